"""Paying approved skill-subsidy claims: once, the approved amount, admin only; the feed says so."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.incentives import feed_sync, payments, subsidies
from services.incentives.events import ClaimFacts

from .test_subsidies import TODAY, claim

NUMBER = "Y000031000123263000001"


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(subsidies, "today", lambda: TODAY)


async def _approved(client, tokens, assessment, number=NUMBER, learner="lrn_a"):
    assessment.add(number, learner, level=3, issued_on="2026-05-10")  # 2400.00 (in the 2024 edition)
    claim_id = (await claim(client, tokens, number, learner=learner)).json()["claim_id"]
    r = await client.post(
        f"/v1/subsidy-claims/{claim_id}/decision", json={"decision": "approve"}, headers=tokens.headers("admin")
    )
    assert r.json()["status"] == "approved", r.text
    return claim_id


def _pay(client, tokens, claim_id, role="admin", **body):
    paid_on = payments.today().isoformat()  # the approval was just now: today is the earliest day allowed
    return client.post(
        f"/v1/subsidy-claims/{claim_id}/payment",
        json={"amount": "2400.00", "paid_on": paid_on, "reference": "沪财支-2026-0001"} | body,
        headers=tokens.headers(role, sub="lrn_a") if role == "student" else tokens.headers(role, org="u-a"),
    )


async def test_an_approved_claim_is_paid_once_and_the_feed_says_so(loaded, tokens, assessment, today):
    claim_id = await _approved(loaded, tokens, assessment)
    r = await _pay(loaded, tokens, claim_id)
    assert r.status_code == 201, r.text
    paid = r.json()
    assert (paid["claim_id"], paid["learner_id"], paid["certificate_number"]) == (claim_id, "lrn_a", NUMBER)
    assert (paid["amount"], paid["paid_on"], paid["reference"], paid["paid_by"]) == (
        "2400.00",
        payments.today().isoformat(),
        "沪财支-2026-0001",
        "admin-test",
    )
    again = await _pay(loaded, tokens, claim_id)
    assert (again.status_code, again.json()["type"].rsplit("/", 1)[1]) == (409, "subsidy-claim-paid")
    # The claim stays approved; its payment is read beside it, by whoever may read the claim.
    got = await loaded.get(f"/v1/subsidy-claims/{claim_id}", headers=tokens.headers("admin"))
    assert got.json()["status"] == "approved"
    for headers, status in (
        (tokens.headers("student", sub="lrn_a"), 200),
        (tokens.headers("platform"), 200),
        (tokens.headers("student", sub="lrn_b"), 404),
        (tokens.headers("university", org="u-a"), 404),  # a student's own claim, not filed by u-a
    ):
        read = await loaded.get(f"/v1/subsidy-claims/{claim_id}/payment", headers=headers)
        assert read.status_code == status, (headers, read.text)
        if status == 200:
            assert read.json() == paid
    events = (await loaded.get("/v1/events", headers=tokens.headers("platform"))).json()["events"]
    (event,) = [e for e in events if e["type"] == "incentives.subsidy_claim.paid"]
    assert event["subject"] == f"subsidy_claim:{claim_id}"
    data = event["data"]
    assert (data["status"], data["amount"], data["amount_paid"], data["paid_on"]) == (
        "approved",
        "2400.00",
        "2400.00",
        payments.today().isoformat(),
    )
    facts = ClaimFacts.model_validate(data)  # what the statistics service reads
    assert (facts.claim_id, str(facts.amount_paid), facts.paid_on) == (claim_id, "2400.00", payments.today())
    assert "reference" not in data


async def test_only_an_approved_claim_not_flagged_for_recovery_is_paid(loaded, tokens, assessment, today):
    assessment.add("Y000031000123263000009", "lrn_a", level=3, issued_on="2026-05-10")
    pending = (await claim(loaded, tokens, "Y000031000123263000009")).json()["claim_id"]
    r = await _pay(loaded, tokens, pending)
    assert (r.status_code, r.json()["type"].rsplit("/", 1)[1]) == (409, "subsidy-claim-not-payable")
    assert "pending" in r.json()["detail"]
    await loaded.post(
        f"/v1/subsidy-claims/{pending}/decision", json={"decision": "reject"}, headers=tokens.headers("admin")
    )
    assert (await _pay(loaded, tokens, pending)).status_code == 409
    flagged = await _approved(loaded, tokens, assessment, number="Y000031000123263000002", learner="lrn_c")
    assessment.emit("revoked", "Y000031000123263000002")  # approved, then revoked: flagged for recovery
    async with loaded.app.state.sessionmaker() as session:
        await feed_sync.sync_assessment_feed(session, loaded.app.state.incentives.assessment)
    r = await _pay(loaded, tokens, flagged)
    assert r.status_code == 409 and "recovery" in r.json()["detail"]
    unknown = await _pay(loaded, tokens, "00000000-0000-0000-0000-000000000000")
    assert (unknown.status_code, unknown.json()["type"].rsplit("/", 1)[1]) == (404, "subsidy-claim-not-found")
    r = await loaded.get(f"/v1/subsidy-claims/{pending}/payment", headers=tokens.headers("admin"))
    assert (r.status_code, r.json()["type"].rsplit("/", 1)[1]) == (404, "subsidy-payment-not-found")


async def test_the_amount_and_day_must_match_the_approval(loaded, tokens, assessment, today):
    claim_id = await _approved(loaded, tokens, assessment)
    r = await _pay(loaded, tokens, claim_id, amount="2000.00")
    assert r.status_code == 422 and [e["loc"] for e in r.json()["errors"]] == [["body", "amount"]]
    assert "2400.00" in r.json()["errors"][0]["msg"]
    tomorrow = (payments.today() + timedelta(days=1)).isoformat()
    yesterday = (payments.today() - timedelta(days=1)).isoformat()
    for paid_on, msg in ((tomorrow, "future"), (yesterday, "before the approval")):
        r = await _pay(loaded, tokens, claim_id, paid_on=paid_on)
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "paid_on"], r.text
        assert msg in r.json()["errors"][0]["msg"]
    r = await _pay(loaded, tokens, claim_id, amount="-1")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "amount"]
    for role in ("student", "university", "platform"):
        assert (await _pay(loaded, tokens, claim_id, role=role)).status_code == 403
    # Nothing was recorded by the refused attempts: the right payment still goes through, once.
    assert (await _pay(loaded, tokens, claim_id)).status_code == 201
