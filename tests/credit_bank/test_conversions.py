"""Conversions: credits and courses from the rule in force, every cap with its own problem type."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.credit_bank.support import AI, ROBOT, UNIV, convert, deposit, problem_type, programme, rule


async def _outcome(client, tokens, assessment, learner: str, occupation: str, level: int) -> str:
    number = assessment.issue(f"N{uuid.uuid4().hex[:10]}", learner, occupation, level)
    r = await deposit(client, tokens, learner, number)
    assert r.status_code == 201, r.text
    return str(r.json()["outcome_id"])


async def test_conversion_applies_the_graded_rule_and_writes_the_ledger(client, tokens, assessment):
    pid = await programme(client, tokens)
    await rule(client, tokens, pid, min_level=4, credits="3", courses=["FND-1"])
    top = await rule(client, tokens, pid, min_level=3, credits="5", courses=["FND-1", "CORE-1"])
    oid = await _outcome(client, tokens, assessment, "lrn-c1", AI, 2)
    r = await convert(client, tokens, "lrn-c1", oid, pid)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["rule_id"], body["credits"], body["course_codes"]) == (top["id"], "5.0", ["FND-1", "CORE-1"])
    ledger = (await client.get("/v1/accounts/lrn-c1/ledger", headers=tokens.headers("student", sub="lrn-c1"))).json()
    assert [(e["kind"], e["credits"], e["rule_id"]) for e in ledger["items"]] == [
        ("deposit", "0.0", None),
        ("convert", "5.0", top["id"]),
    ]
    assert ledger["items"][1]["id"] == body["ledger_entry_id"] and "level 2" in ledger["items"][1]["reason"]
    account = (await client.get("/v1/accounts/lrn-c1", headers=tokens.headers("university", org=UNIV))).json()
    assert (account["balance"], account["outcomes"], account["converted"]) == ("5.0", 1, 1)
    transcript = (await client.get("/v1/accounts/lrn-c1/transcript", headers=tokens.headers("admin"))).json()
    [line] = transcript["programmes"]
    assert (line["converted_credits"], line["cap"], line["remaining_cap"], line["courses"]) == (
        "5.0",
        "80.0",
        "75.0",
        ["CORE-1", "FND-1"],
    )
    events = (await client.get("/v1/events", headers=tokens.headers("platform"))).json()["events"]
    posted = [e for e in events if e["type"] == "credit_bank.conversion.posted"]
    assert [(e["data"]["conversion_id"], e["data"]["credits"]) for e in posted] == [(body["conversion_id"], "5.0")]


async def test_one_conversion_per_outcome_per_programme_and_idempotent_replay(client, tokens, assessment):
    pid = await programme(client, tokens)
    await rule(client, tokens, pid)
    oid = await _outcome(client, tokens, assessment, "lrn-c2", AI, 4)
    key = str(uuid.uuid4())
    first = await convert(client, tokens, "lrn-c2", oid, pid, key=key)
    replay = await convert(client, tokens, "lrn-c2", oid, pid, key=key)
    assert (first.status_code, replay.status_code, replay.json()) == (201, 201, first.json())
    again = await convert(client, tokens, "lrn-c2", oid, pid)
    assert again.status_code == 409 and problem_type(again) == "already-converted"
    ledger = (await client.get("/v1/accounts/lrn-c2/ledger", headers=tokens.headers("admin"))).json()["items"]
    assert [e["kind"] for e in ledger] == ["deposit", "convert"]


async def test_programme_cap_is_enforced(client, tokens, assessment):
    # 20 graduation credits × 0.3 = 6 converted at most.
    pid = await programme(client, tokens, credits="20", ratio="0.3")
    await rule(client, tokens, pid, occupation=AI, credits="4", courses=["A"])
    await rule(client, tokens, pid, occupation=ROBOT, credits="2.5", courses=["B"])
    await rule(client, tokens, pid, occupation="4-10-01-05", credits="2", courses=["C"])
    ok = await convert(client, tokens, "lrn-c3", await _outcome(client, tokens, assessment, "lrn-c3", AI, 4), pid)
    assert ok.status_code == 201
    over = await convert(client, tokens, "lrn-c3", await _outcome(client, tokens, assessment, "lrn-c3", ROBOT, 4), pid)
    assert over.status_code == 409 and problem_type(over) == "conversion-cap-exceeded"
    assert "cap of 6.0" in over.json()["detail"]
    exact = await convert(
        client, tokens, "lrn-c3", await _outcome(client, tokens, assessment, "lrn-c3", "4-10-01-05", 4), pid
    )
    assert exact.status_code == 201  # 4 + 2 = 6 is at the cap, not past it
    line = (await client.get("/v1/accounts/lrn-c3/transcript", headers=tokens.headers("admin"))).json()["programmes"][0]
    assert (line["converted_credits"], line["remaining_cap"]) == ("6.0", "0.0")


async def test_each_course_is_replaced_by_one_certificate_only(client, tokens, assessment):
    pid = await programme(client, tokens)
    await rule(client, tokens, pid, occupation=AI, courses=["CS-101", "CS-102"])
    await rule(client, tokens, pid, occupation=ROBOT, courses=["CS-102"])
    assert (
        await convert(client, tokens, "lrn-c4", await _outcome(client, tokens, assessment, "lrn-c4", AI, 4), pid)
    ).status_code == 201
    r = await convert(client, tokens, "lrn-c4", await _outcome(client, tokens, assessment, "lrn-c4", ROBOT, 4), pid)
    assert r.status_code == 409 and problem_type(r) == "course-already-replaced" and "CS-102" in r.json()["detail"]


async def test_same_occupation_counts_once_and_a_higher_level_replaces_the_lower(client, tokens, assessment):
    pid = await programme(client, tokens)
    await rule(client, tokens, pid, min_level=5, credits="2", courses=["FND"])
    await rule(client, tokens, pid, min_level=3, credits="6", courses=["FND", "CORE"])
    low = await _outcome(client, tokens, assessment, "lrn-c5", AI, 5)
    first = (await convert(client, tokens, "lrn-c5", low, pid)).json()
    same = await convert(client, tokens, "lrn-c5", await _outcome(client, tokens, assessment, "lrn-c5", AI, 5), pid)
    assert same.status_code == 409 and problem_type(same) == "occupation-already-counted"
    high = await convert(client, tokens, "lrn-c5", await _outcome(client, tokens, assessment, "lrn-c5", AI, 3), pid)
    assert high.status_code == 201, high.text
    assert high.json()["replaced_conversion_ids"] == [first["conversion_id"]]
    ledger = (await client.get("/v1/accounts/lrn-c5/ledger", headers=tokens.headers("admin"))).json()["items"]
    moves = [(e["kind"], e["credits"], e["conversion_id"]) for e in ledger if e["kind"] != "deposit"]
    assert moves == [
        ("convert", "2.0", first["conversion_id"]),
        ("reverse", "-2.0", first["conversion_id"]),
        ("convert", "6.0", high.json()["conversion_id"]),
    ]
    account = (await client.get("/v1/accounts/lrn-c5", headers=tokens.headers("student", sub="lrn-c5"))).json()
    assert (account["balance"], account["converted"]) == ("6.0", 1)
    lower_later = await convert(
        client, tokens, "lrn-c5", await _outcome(client, tokens, assessment, "lrn-c5", AI, 4), pid
    )
    assert lower_later.status_code == 409 and problem_type(lower_later) == "occupation-already-counted"
    types = [e["type"] for e in (await client.get("/v1/events", headers=tokens.headers("admin"))).json()["events"]]
    assert types.count("credit_bank.conversion.reversed") == 1


async def test_no_rule_course_outcomes_and_tenancy(client, tokens, assessment):
    pid = await programme(client, tokens)
    await rule(client, tokens, pid, occupation=AI, min_level=3)
    low = await _outcome(client, tokens, assessment, "lrn-c6", AI, 4)
    r = await convert(client, tokens, "lrn-c6", low, pid)
    assert r.status_code == 409 and problem_type(r) == "no-conversion-rule"
    course = await client.post(
        "/v1/outcomes",
        json={"learner_id": "lrn-c6", "kind": "award", "title": "挑战杯", "evidence": {"level": "national"}},
        headers=tokens.headers("student", sub="lrn-c6"),
    )
    r = await convert(client, tokens, "lrn-c6", course.json()["outcome_id"], pid)
    assert r.status_code == 409 and problem_type(r) == "no-conversion-rule"
    # Another student, another university's programme, another learner's outcome: 404.
    body = {"learner_id": "lrn-c6", "outcome_id": low, "programme_id": pid}
    r = await client.post("/v1/conversions", json=body, headers=tokens.headers("student", sub="lrn-x"))
    assert r.status_code == 404
    r = await client.post("/v1/conversions", json=body, headers=tokens.headers("university", org="univ-b"))
    assert r.status_code == 404 and problem_type(r) == "programme-not-found"
    r = await client.post(
        "/v1/conversions", json={**body, "learner_id": "lrn-x"}, headers=tokens.headers("university", org=UNIV)
    )
    assert r.status_code == 404 and problem_type(r) == "outcome-not-found"
    assert (await client.post("/v1/conversions", json=body, headers=tokens.headers("platform"))).status_code == 403


async def test_the_ledger_is_append_only(client, tokens, assessment, test_db):
    pid = await programme(client, tokens)
    await rule(client, tokens, pid)
    await convert(client, tokens, "lrn-c7", await _outcome(client, tokens, assessment, "lrn-c7", AI, 4), pid)
    url = make_url(test_db.role_urls["credit_bank"]).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        for sql in ("UPDATE credit_bank.ledger_entries SET credits = 99", "DELETE FROM credit_bank.ledger_entries"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    finally:
        await conn.close()
    admin_url = make_url(test_db.admin_url).set(drivername="postgresql")
    conn = await asyncpg.connect(admin_url.render_as_string(hide_password=False))
    try:
        # A superuser has every privilege: the trigger still refuses.
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("UPDATE credit_bank.ledger_entries SET credits = 99")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("DELETE FROM credit_bank.ledger_entries")
    finally:
        await conn.close()
