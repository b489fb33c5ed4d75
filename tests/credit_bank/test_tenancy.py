"""Who reads an account: the learner, their university, admin, platform and services; others get 404."""

from __future__ import annotations

import pytest

from tests.credit_bank.support import AI, UNIV, convert, deposit, programme, rule

READS = [
    ("student", {"sub": "lrn-t1"}, 200),
    ("university", {"org": UNIV}, 200),
    ("admin", {}, 200),
    ("platform", {}, 200),
    ("service", {}, 200),
    ("student", {"sub": "lrn-t2"}, 404),
    ("university", {"org": "univ-b"}, 404),
]


@pytest.mark.parametrize(("role", "claims", "status"), READS)
async def test_account_ledger_and_transcript_by_role(client, tokens, assessment, role, claims, status):
    pid = await programme(client, tokens)
    await rule(client, tokens, pid)
    number = assessment.issue("T0001", "lrn-t1", AI, 4)
    oid = (await deposit(client, tokens, "lrn-t1", number)).json()["outcome_id"]
    assert (await convert(client, tokens, "lrn-t1", oid, pid)).status_code == 201
    headers = tokens.headers(role, **claims)
    account = await client.get("/v1/accounts/lrn-t1", headers=headers)
    assert account.status_code == status
    if status == 200:
        assert account.json()["balance"] == "3.0"
        ledger = (await client.get("/v1/accounts/lrn-t1/ledger", headers=headers)).json()
        assert [e["kind"] for e in ledger["items"]] == ["deposit", "convert"]
        transcript = (await client.get("/v1/accounts/lrn-t1/transcript", headers=headers)).json()
        assert [p["programme_id"] for p in transcript["programmes"]] == [pid]
    else:
        assert account.json()["type"].endswith("/account-not-found")
        for part in ("ledger", "transcript"):
            assert (await client.get(f"/v1/accounts/lrn-t1/{part}", headers=headers)).status_code == 404


async def test_a_learner_without_deposits_sees_an_empty_account(client, tokens):
    r = await client.get("/v1/accounts/lrn-new", headers=tokens.headers("student", sub="lrn-new"))
    assert r.json() == {"learner_id": "lrn-new", "balance": "0.0", "outcomes": 0, "converted": 0}
    r = await client.get("/v1/accounts/lrn-new/transcript", headers=tokens.headers("student", sub="lrn-new"))
    assert r.json() == {"learner_id": "lrn-new", "balance": "0.0", "outcomes": 0, "converted": 0, "programmes": []}
    assert (await client.get("/v1/accounts/lrn-new", headers=tokens.headers("admin"))).status_code == 404


async def test_the_ledger_pages_by_keyset(client, tokens):
    for n in range(3):
        await client.post(
            "/v1/outcomes",
            json={"learner_id": "lrn-t3", "kind": "course", "title": f"课程{n}", "evidence": {"n": n}},
            headers=tokens.headers("student", sub="lrn-t3"),
        )
    headers = tokens.headers("student", sub="lrn-t3")
    first = (await client.get("/v1/accounts/lrn-t3/ledger", params={"limit": 2}, headers=headers)).json()
    rest = (
        await client.get(
            "/v1/accounts/lrn-t3/ledger", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
        )
    ).json()
    ids = [e["id"] for e in first["items"] + rest["items"]]
    assert len(ids) == 3 and ids == sorted(ids) and rest["next_cursor"] is None
