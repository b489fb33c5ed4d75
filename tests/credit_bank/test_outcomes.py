"""Deposits: certificates checked with assessment, courses and awards with their evidence."""

from __future__ import annotations

import uuid

from tests.credit_bank.support import AI, UNIV, deposit, problem_type


async def test_certificate_deposit_opens_the_account_and_is_the_same_outcome_twice(client, tokens, assessment):
    number = assessment.issue("S000001", "lrn-1", AI, 4)
    r = await deposit(client, tokens, "lrn-1", number)
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["kind"], first["status"], first["occupation_code"], first["level"]) == ("certificate", "valid", AI, 4)
    assert assessment.calls == ["GET /v1/certificates/S000001"]
    again = await client.post(
        "/v1/outcomes",
        json={"learner_id": "lrn-1", "kind": "certificate", "certificate_number": number},
        headers=tokens.headers("university", org=UNIV),
    )
    assert again.status_code == 200 and again.json()["outcome_id"] == first["outcome_id"]
    account = (await client.get("/v1/accounts/lrn-1", headers=tokens.headers("student", sub="lrn-1"))).json()
    assert account == {"learner_id": "lrn-1", "balance": "0.0", "outcomes": 1, "converted": 0}
    ledger = (await client.get("/v1/accounts/lrn-1/ledger", headers=tokens.headers("admin"))).json()["items"]
    assert [(e["kind"], e["credits"], e["outcome_id"]) for e in ledger] == [("deposit", "0.0", first["outcome_id"])]
    events = (await client.get("/v1/events", headers=tokens.headers("service"))).json()["events"]
    assert [(e["type"], e["data"]["certificate_number"]) for e in events] == [("credit_bank.outcome.deposited", number)]


async def test_idempotency_key_replays_and_refuses_another_body(client, tokens, assessment):
    assessment.issue("S000002", "lrn-2", AI, 3)
    assessment.issue("S000003", "lrn-2", AI, 4)
    key = str(uuid.uuid4())
    first = await deposit(client, tokens, "lrn-2", "S000002", key=key)
    replay = await deposit(client, tokens, "lrn-2", "S000002", key=key)
    assert (replay.status_code, replay.json()) == (201, first.json())
    assert assessment.calls == ["GET /v1/certificates/S000002"]  # the replay never asked again
    other = await deposit(client, tokens, "lrn-2", "S000003", key=key)
    assert other.status_code == 422 and other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_suspended_revoked_unknown_and_foreign_certificates_are_refused(client, tokens, assessment):
    assessment.issue("S000004", "lrn-3", AI, 4, status="suspended")
    assessment.issue("S000005", "lrn-3", AI, 4, status="revoked")
    assessment.issue("S000006", "lrn-other", AI, 4)
    r = await deposit(client, tokens, "lrn-3", "S000004")
    assert r.status_code == 409 and problem_type(r) == "certificate-not-valid"
    assert "suspended by the bureau" in r.json()["detail"]
    r = await deposit(client, tokens, "lrn-3", "S000005")
    assert r.status_code == 409 and "revoked" in r.json()["detail"]
    for number in ("S999999", "S000006"):
        r = await deposit(client, tokens, "lrn-3", number)
        assert r.status_code == 422 and problem_type(r) == "certificate-not-found"
        assert r.json()["errors"][0]["loc"] == ["body", "certificate_number"]
    # Nothing was stored for the refused ones: the learner still has no account.
    assert (await client.get("/v1/accounts/lrn-3", headers=tokens.headers("admin"))).status_code == 404


async def test_assessment_down_is_503_and_nothing_stored(client, tokens, assessment):
    assessment.issue("S000007", "lrn-4", AI, 4)
    assessment.down = True
    r = await deposit(client, tokens, "lrn-4", "S000007")
    assert r.status_code == 503 and problem_type(r) == "upstream-unavailable"


async def test_course_and_award_outcomes_store_their_evidence(client, tokens):
    evidence = {"institution": "上海开放大学", "course_code": "OU-101", "score": 88}
    r = await client.post(
        "/v1/outcomes",
        json={"learner_id": "lrn-5", "kind": "course", "title": "数据结构", "evidence": evidence},
        headers=tokens.headers("university", org=UNIV),
    )
    assert r.status_code == 201 and (r.json()["title"], r.json()["evidence"]) == ("数据结构", evidence)
    r = await client.post(
        "/v1/outcomes", json={"learner_id": "lrn-5", "kind": "award"}, headers=tokens.headers("admin")
    )
    assert r.status_code == 422
    assert sorted(e["loc"][-1] for e in r.json()["errors"]) == ["evidence", "title"]
    r = await client.post(
        "/v1/outcomes", json={"learner_id": "lrn-5", "kind": "certificate"}, headers=tokens.headers("admin")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "certificate_number"]
    # The depositing university reads its student's account; another does not.
    assert (await client.get("/v1/accounts/lrn-5", headers=tokens.headers("university", org=UNIV))).json()[
        "outcomes"
    ] == 1
    assert (
        await client.get("/v1/accounts/lrn-5", headers=tokens.headers("university", org="univ-b"))
    ).status_code == 404


async def test_student_deposits_only_into_their_own_account(client, tokens, assessment):
    assessment.issue("S000008", "lrn-6", AI, 4)
    r = await client.post(
        "/v1/outcomes",
        json={"learner_id": "lrn-6", "kind": "certificate", "certificate_number": "S000008"},
        headers=tokens.headers("student", sub="lrn-7"),
    )
    assert r.status_code == 404 and problem_type(r) == "account-not-found"
    r = await client.post(
        "/v1/outcomes",
        json={"learner_id": "lrn-6", "kind": "certificate", "certificate_number": "S000008"},
        headers=tokens.headers("platform"),
    )
    assert r.status_code == 403


async def test_idempotency_keys_are_per_organisation_not_per_subject(client, tokens, assessment):
    # Every CLI-made university token has the same sub; the key must still be each university's own
    # (issue 11 finding 9: the single routes scoped keys by sub alone, so B got A's answer or a 422).
    assessment.issue("S000031", "lrn-31", AI, 4)
    assessment.issue("S000032", "lrn-32", AI, 4)
    answers = []
    for org, learner, number in (("univ-a", "lrn-31", "S000031"), ("univ-b", "lrn-32", "S000032")):
        r = await client.post(
            "/v1/outcomes",
            json={"learner_id": learner, "kind": "certificate", "certificate_number": number},
            headers={**tokens.headers("university", org=org, sub="cli"), "Idempotency-Key": "nightly"},
        )
        assert r.status_code == 201, r.text
        answers.append(r.json())
    assert [a["certificate_number"] for a in answers] == ["S000031", "S000032"]
    assert answers[0]["outcome_id"] != answers[1]["outcome_id"]
