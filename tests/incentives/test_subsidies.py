"""Skill-subsidy claims: every ineligibility reason, exact amounts, one decision, the feed's effects."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.incentives import feed_sync, subsidies
from services.incentives.clients import Certificate

RULES = json.loads((Path(__file__).parents[2] / "services/incentives/data/skill_subsidy.json").read_text())["rules"]
TODAY = date(2026, 11, 27)


def certificate(**over):
    values = {
        "number": "S000031000456264000001",
        "learner_id": "lrn_a",
        "occupation_code": "6-31-07-01",
        "work_type": None,
        "level": 3,
        "issued_on": date(2026, 5, 10),
        "status": "valid",
    }
    return Certificate(**{**values, **over})


def reasons(rules=RULES, *, claimed_on=TODAY, graduation_year=2026, same=0, this_year=0, **cert):
    found = subsidies.eligibility_reasons(
        rules,
        certificate=certificate(**cert),
        claimed_on=claimed_on,
        graduation_year=graduation_year,
        same_occupation_level=same,
        claims_this_year=this_year,
    )
    return [r.code for r in found]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, []),
        ({"status": "suspended"}, ["certificate_not_valid"]),
        ({"status": "revoked"}, ["certificate_not_valid"]),
        ({"rules": {**RULES, "amount_by_level": {"3": "2000"}}, "level": 4}, ["level_not_subsidised"]),
        ({"graduation_year": 2027}, ["not_graduating_year_student"]),
        ({"graduation_year": None}, ["graduation_year_unknown"]),
        ({"claimed_on": date(2027, 5, 11)}, ["outside_claim_window"]),
        ({"claimed_on": date(2027, 5, 10)}, []),  # the window's last day
        ({"same": 1}, ["already_claimed"]),
        ({"this_year": 3}, ["yearly_limit_reached"]),
        ({"this_year": 2}, []),
        # an exam on 2025-11-26 is for students graduating in 2026 (DOMAIN.md §1)
        ({"issued_on": date(2025, 11, 26), "claimed_on": date(2026, 6, 1)}, []),
        (
            {"status": "revoked", "graduation_year": 2030, "claimed_on": date(2028, 1, 1), "same": 2, "this_year": 5},
            [
                "certificate_not_valid",
                "not_graduating_year_student",
                "outside_claim_window",
                "already_claimed",
                "yearly_limit_reached",
            ],
        ),
    ],
)
def test_every_reason_is_listed(kwargs, expected):
    assert reasons(**kwargs) == expected


def test_graduating_year_on_the_claim_date_when_the_rule_says_so():
    rules = {**RULES, "graduating_year_checked_on": "claim_date"}
    assert reasons(rules, graduation_year=2027, claimed_on=date(2026, 9, 1)) == []
    assert reasons(rules, graduation_year=2026, claimed_on=date(2026, 9, 1)) == ["not_graduating_year_student"]


@pytest.mark.parametrize(
    ("level", "in_catalogue", "amount"),
    [
        (5, False, "1000.00"),
        (4, True, "1800.00"),
        (3, True, "2400.00"),
        (2, False, "3500.00"),
        (1, True, "5160.00"),
    ],
)
def test_amounts_in_exact_decimals(level, in_catalogue, amount):
    assert subsidies.amount_for(RULES, level, in_catalogue) == Decimal(amount)


def test_odd_amounts_round_half_up_to_the_fen():
    rules = {**RULES, "amount_by_level": {"3": "1333.33"}, "catalogue_uplift": "0.15"}
    assert subsidies.amount_for(rules, 3, True) == Decimal("1533.33")  # 1533.3295 → 1533.33
    rules = {**RULES, "amount_by_level": {"3": "1000.10"}, "catalogue_uplift": "0.05"}
    assert subsidies.amount_for(rules, 3, True) == Decimal("1050.11")  # 1050.105 → 1050.11


def test_claim_window_months_clamp_to_month_end():
    assert subsidies.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert subsidies.add_months(date(2025, 11, 30), 12) == date(2026, 11, 30)


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(subsidies, "today", lambda: TODAY)


async def claim(client, tokens, number, learner="lrn_a", key=None, **extra):
    headers = tokens.headers("student", sub=learner) | ({"Idempotency-Key": key} if key else {})
    return await client.post(
        "/v1/subsidy-claims", json={"learner_id": learner, "certificate_number": number, **extra}, headers=headers
    )


async def test_an_eligible_claim_waits_for_one_decision(loaded, tokens, assessment, today):
    assessment.add("Y000031000123263000001", "lrn_a", level=3, issued_on="2026-05-10")  # in the 2024 edition
    r = await claim(loaded, tokens, "Y000031000123263000001")
    assert r.status_code == 201, r.text
    body = r.json()
    # a Y (employer body) certificate fixes the graduation year: issued 2026-05-10 → class of 2026
    assert (body["status"], body["amount"], body["reasons"]) == ("pending", "2400.00", [])
    assert (body["in_catalogue"], body["edition_id"], body["claimed_on"]) == (True, "ed-2024", "2026-11-27")
    admin = tokens.headers("admin")
    decided = await loaded.post(
        f"/v1/subsidy-claims/{body['claim_id']}/decision", json={"decision": "approve"}, headers=admin
    )
    assert decided.json()["status"] == "approved" and decided.json()["decided_at"]
    again = await loaded.post(
        f"/v1/subsidy-claims/{body['claim_id']}/decision", json={"decision": "reject"}, headers=admin
    )
    assert again.status_code == 409
    student = await loaded.post(
        f"/v1/subsidy-claims/{body['claim_id']}/decision",
        json={"decision": "approve"},
        headers=tokens.headers("student", sub="lrn_a"),
    )
    assert student.status_code == 403


async def test_an_ineligible_claim_lists_every_reason(loaded, tokens, assessment, today):
    assessment.add("S000031000456254000001", "lrn_a", level=4, issued_on="2025-06-20", status="suspended")
    r = await claim(loaded, tokens, "S000031000456254000001", graduation_year=2027)
    body = r.json()
    assert (body["status"], body["amount"]) == ("ineligible", None)
    assert [x["code"] for x in body["reasons"]] == [
        "certificate_not_valid",
        "not_graduating_year_student",
        "outside_claim_window",
    ]
    unknown = await claim(loaded, tokens, "S000031000456254000001")
    assert "graduation_year_unknown" in [x["code"] for x in unknown.json()["reasons"]]


@pytest.mark.parametrize(
    ("number", "on_record", "in_claim", "expected"),
    [
        # the certificate's record (assessment) wins; a claim may repeat it
        ("S000031000456264000001", 2026, None, 2026),
        ("S000031000456264000001", 2026, 2026, 2026),
        ("Y000031000123264000001", 2027, None, 2027),  # even over what a Y certificate's date implies
        # a certificate without one (read before assessment published it): Y implies it, else the claim's
        ("Y000031000123264000001", None, None, 2026),
        ("Y000031000123264000001", None, 2025, 2025),
        ("S000031000456264000001", None, 2026, 2026),
        ("S000031000456264000001", None, None, None),
    ],
)
def test_the_graduation_year_comes_from_the_certificate(number, on_record, in_claim, expected):
    cert = certificate(number=number, graduation_year=on_record)  # issued 2026-05-10: the class of 2026
    assert subsidies.graduation_year_for(cert, in_claim) == expected


def test_a_claim_that_disagrees_with_the_record_is_422():
    with pytest.raises(subsidies.GraduationYearDisagrees) as caught:
        subsidies.graduation_year_for(certificate(graduation_year=2026), 2027)
    assert caught.value.errors == [
        {"loc": ["body", "graduation_year"], "msg": "the certificate's record says 2026; leave it out or send that"}
    ]


async def test_graduating_year_eligibility_from_the_certificate(loaded, tokens, assessment, today):
    """Through the API: assessment's certificate carries the candidate's graduation year."""
    # a social body's certificate: no year in the claim, the record's 2026 makes it eligible
    assessment.add("S000031000456264000001", "lrn_a", issued_on="2026-05-10", graduation_year=2026)
    r = await claim(loaded, tokens, "S000031000456264000001")
    assert (r.status_code, r.json()["status"], r.json()["reasons"]) == (201, "pending", [])
    # the record says 2027: on 2026-05-10 that is not a graduating-year student, whatever the number implies
    assessment.add("Y000031000123264000002", "lrn_a", code="6-22-02-01", issued_on="2026-05-10", graduation_year=2027)
    r = await claim(loaded, tokens, "Y000031000123264000002")
    assert (r.json()["status"], [x["code"] for x in r.json()["reasons"]]) == (
        "ineligible",
        ["not_graduating_year_student"],
    )
    # a claim still sending graduation_year: the same is accepted, a different one is 422 naming it
    assessment.add("Y000031000123264000003", "lrn_a", code="4-10-01-05", issued_on="2026-05-10", graduation_year=2026)
    wrong = await claim(loaded, tokens, "Y000031000123264000003", graduation_year=2027)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["loc"] == ["body", "graduation_year"]
    same = await claim(loaded, tokens, "Y000031000123264000003", graduation_year=2026)
    assert (same.status_code, same.json()["status"]) == (201, "pending")
    listed = await loaded.get("/v1/subsidy-claims", headers=tokens.headers("admin"))
    assert len(listed.json()["items"]) == 3  # the 422 stored nothing


async def test_once_per_occupation_and_level_and_at_most_three_a_year(loaded, tokens, assessment, today):
    for i, (code, level) in enumerate([("6-31-07-01", 3), ("6-31-07-01", 4), ("6-22-02-01", 4), ("4-10-01-05", 4)]):
        assessment.add(f"Y00003100012326300001{i}", "lrn_a", code=code, level=level, issued_on="2026-05-10")
    assessment.add("Y000031000123263000020", "lrn_a", code="6-31-07-01", level=3, issued_on="2026-06-10")
    statuses = [(await claim(loaded, tokens, f"Y00003100012326300001{i}")).json()["status"] for i in range(3)]
    assert statuses == ["pending", "pending", "pending"]
    fourth = (await claim(loaded, tokens, "Y000031000123263000013")).json()
    assert [x["code"] for x in fourth["reasons"]] == ["yearly_limit_reached"]
    same = (await claim(loaded, tokens, "Y000031000123263000020")).json()
    assert [x["code"] for x in same["reasons"]] == ["already_claimed", "yearly_limit_reached"]


async def test_idempotency_key_replays_the_first_answer(loaded, tokens, assessment, today):
    assessment.add("Y000031000123263000001", "lrn_a")
    first = await claim(loaded, tokens, "Y000031000123263000001", key="k-1")
    second = await claim(loaded, tokens, "Y000031000123263000001", key="k-1")
    assert second.status_code == 201 and second.json() == first.json()
    other = await claim(loaded, tokens, "Y000031000123263000001", key="k-1", graduation_year=2026)
    assert other.status_code == 422 and other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    listed = await loaded.get("/v1/subsidy-claims", headers=tokens.headers("admin"))
    assert len(listed.json()["items"]) == 1


async def test_tenancy_of_claims(loaded, tokens, assessment, today):
    """A student claims only for themself, a university only for its own students (404 otherwise),
    the platform not at all; each reads only what is theirs."""
    assessment.add("Y000031000123263000001", "lrn_a", org="u-a", school_org="u-a", graduation_year=2026)
    assessment.add("Y000031000123263000002", "lrn_a", code="6-22-02-01", org="u-a", school_org="u-a")
    assessment.add("Y000031000223263000003", "lrn_z", org="u-b", school_org="u-b")
    async with loaded.app.state.sessionmaker() as session:
        await feed_sync.sync_assessment_feed(session, loaded.app.state.incentives.assessment)
    u_a, u_b = tokens.headers("university", org="u-a"), tokens.headers("university", org="u-b")

    async def file(learner, number, headers):
        return await loaded.post(
            "/v1/subsidy-claims", json={"learner_id": learner, "certificate_number": number}, headers=headers
        )

    assert (await claim(loaded, tokens, "Y000031000123263000001", learner="lrn_b")).status_code == 404
    assert (await file("lrn_a", "Y000031000123263000001", u_b)).status_code == 404
    assert (await file("lrn_z", "Y000031000223263000003", u_a)).status_code == 404
    assert (await file("lrn_a", "Y000031000123263000001", tokens.headers("platform"))).status_code == 403
    by_university = await file("lrn_a", "Y000031000123263000001", u_a)
    assert by_university.status_code == 201, by_university.text
    by_student = await claim(loaded, tokens, "Y000031000123263000002")
    assert by_student.status_code == 201, by_student.text

    async def seen(headers, **params):
        r = await loaded.get("/v1/subsidy-claims", params=params, headers=headers)
        return r.status_code, len(r.json().get("items", []))

    assert await seen(u_a) == (200, 2)  # its student's claims, also the one the student filed
    assert await seen(u_a, learner_id="lrn_a") == (200, 2)
    assert await seen(u_b) == (200, 0)
    assert await seen(u_b, learner_id="lrn_a") == (404, 0)
    assert await seen(tokens.headers("student", sub="lrn_a")) == (200, 2)
    assert await seen(tokens.headers("student", sub="lrn_b"), learner_id="lrn_a") == (200, 0)
    assert await seen(tokens.headers("platform")) == (200, 2)
    # paged one at a time: the same claims, newest first, as the whole list
    whole = (await loaded.get("/v1/subsidy-claims", params={"learner_id": "lrn_a"}, headers=u_a)).json()["items"]
    assert [c["claim_id"] for c in whole] == [by_student.json()["claim_id"], by_university.json()["claim_id"]]
    for first in ({"limit": 1}, {"limit": 1, "learner_id": "lrn_a"}):  # all its students', or one's
        paged, params = [], dict(first)
        while True:
            page = (await loaded.get("/v1/subsidy-claims", params=params, headers=u_a)).json()
            paged += page["items"]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert paged == whole
    claim_id = by_student.json()["claim_id"]
    for headers, expected in (
        (tokens.headers("student", sub="lrn_b"), 404),
        (u_b, 404),
        (u_a, 200),
        (tokens.headers("platform"), 200),
        (tokens.headers("student", sub="lrn_a"), 200),
    ):
        assert (await loaded.get(f"/v1/subsidy-claims/{claim_id}", headers=headers)).status_code == expected


async def test_the_assessment_feed_cancels_holds_and_flags_claims_exactly_once(loaded, tokens, assessment, today):
    for i in range(3):
        assessment.add(f"Y00003100012326300000{i}", "lrn_a", code=["6-31-07-01", "6-22-02-01", "4-10-01-05"][i])
    ids = [(await claim(loaded, tokens, f"Y00003100012326300000{i}")).json()["claim_id"] for i in range(3)]
    await loaded.post(
        f"/v1/subsidy-claims/{ids[1]}/decision", json={"decision": "approve"}, headers=tokens.headers("admin")
    )
    assessment.emit("revoked", "Y000031000123263000000")  # pending → cancelled
    assessment.emit("revoked", "Y000031000123263000001")  # approved → flagged for recovery
    assessment.emit("suspended", "Y000031000123263000002")  # pending → held
    ctx = loaded.app.state.incentives
    async with loaded.app.state.sessionmaker() as session:
        first = await feed_sync.sync_assessment_feed(session, ctx.assessment, page_size=4)
    assert (first.applied, first.cursor) == (6, "6")

    async def states():
        listed = (await loaded.get("/v1/subsidy-claims", headers=tokens.headers("admin"))).json()["items"]
        return {c["claim_id"]: (c["status"], c["recovery_due"]) for c in listed}

    assert await states() == {
        ids[0]: ("cancelled", False),
        ids[1]: ("approved", True),
        ids[2]: ("held", False),
    }
    assessment.emit("reinstated", "Y000031000123263000002")
    async with loaded.app.state.sessionmaker() as session:
        await session.execute(feed_sync.text("DELETE FROM incentives.feed_cursors"))  # as after a lost cursor
        await session.commit()
        second = await feed_sync.sync_assessment_feed(session, ctx.assessment)
    assert second.applied == 1  # the six old events are not applied twice
    assert (await states())[ids[2]] == ("pending", False)
    feed = (await loaded.get("/v1/events", headers=tokens.headers("platform"))).json()["events"]
    assert [
        e["type"]
        for e in feed
        if e["type"].startswith("incentives.subsidy_claim.") and not e["type"].endswith("submitted")
    ] == [
        "incentives.subsidy_claim.decided",
        "incentives.subsidy_claim.cancelled",
        "incentives.subsidy_claim.recovery_due",
        "incentives.subsidy_claim.held",
        "incentives.subsidy_claim.released",
    ]
