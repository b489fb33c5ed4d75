"""Bulk deposits and conversions (POST /outcomes/batch, /conversions/batch): every rule of the single
routes per item, one assessment call per batch, in-batch and cross-batch highest-level replacement,
idempotent replay, tenancy and the size limit."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from services.credit_bank import feed_sync
from tests.credit_bank.support import AI, ROBOT, UNIV, deposit, programme, rule

PROBLEM = "https://skillpass.sh.gov.cn/problems/"
WELDER = "6-18-02-04"
BAKER = "6-01-03-01"


def univ(tokens: Any, org: str = UNIV, key: str | None = None) -> dict[str, str]:
    headers = dict(tokens.headers("university", org=org))
    if key:
        headers["Idempotency-Key"] = key
    return headers


async def deposit_batch(
    client: httpx.AsyncClient, tokens: Any, items: list[dict[str, Any]], *, org: str = UNIV, key: str | None = None
) -> httpx.Response:
    return await client.post("/v1/outcomes/batch", json={"items": items}, headers=univ(tokens, org, key))


async def convert_batch(
    client: httpx.AsyncClient, tokens: Any, items: list[dict[str, Any]], *, org: str = UNIV, key: str | None = None
) -> httpx.Response:
    return await client.post("/v1/conversions/batch", json={"items": items}, headers=univ(tokens, org, key))


def cert(learner: str, number: str) -> dict[str, Any]:
    return {"learner_id": learner, "kind": "certificate", "certificate_number": number}


def item(learner: str, outcome_id: str, programme_id: str) -> dict[str, Any]:
    return {"learner_id": learner, "outcome_id": outcome_id, "programme_id": programme_id}


def kinds(r: httpx.Response) -> list[str]:
    """Per item: the status, or the problem type of a rejection."""
    return [
        row["status"] if row["status"] != "rejected" else row["problem"]["type"].removeprefix(PROBLEM)
        for row in r.json()["items"]
    ]


async def _deposited(client, tokens, assessment, learner: str, occupation: str, level: int) -> str:
    number = assessment.issue(f"B{uuid.uuid4().hex[:10]}", learner, occupation, level)
    r = await deposit_batch(client, tokens, [cert(learner, number)])
    assert kinds(r) == ["deposited"], r.text
    return str(r.json()["items"][0]["outcome"]["outcome_id"])


async def _ledger(client, tokens, learner: str) -> list[tuple[str, str]]:
    items = (await client.get(f"/v1/accounts/{learner}/ledger", headers=tokens.headers("admin"))).json()["items"]
    return [(e["kind"], e["credits"]) for e in items]


async def _balance(client, tokens, learner: str) -> str:
    return str((await client.get(f"/v1/accounts/{learner}", headers=tokens.headers("admin"))).json()["balance"])


async def test_deposit_batch_checks_every_certificate_in_one_call(client, tokens, assessment):
    good = assessment.issue("BD-GOOD", "lrn-bd1", AI, 4)
    before = assessment.issue("BD-BEFORE", "lrn-bd2", AI, 3)
    theirs = assessment.issue("BD-THEIRS", "lrn-someone", AI, 4)
    suspended = assessment.issue("BD-SUSP", "lrn-bd3", AI, 4, status="suspended")
    assert (await deposit(client, tokens, "lrn-bd2", before)).status_code == 201
    earlier = (await deposit(client, tokens, "lrn-bd2", before)).json()
    assessment.calls.clear()
    items = [
        cert("lrn-bd1", good),
        cert("lrn-bd1", good),  # the same certificate twice: the same outcome
        cert("lrn-bd2", before),  # deposited before: the same outcome
        cert("lrn-bd1", "BD-NONE"),
        cert("lrn-bd1", theirs),
        cert("lrn-bd3", suspended),
        {"learner_id": "lrn-bd1", "kind": "course", "title": "高等数学"},
        {"learner_id": "lrn-bd1", "kind": "award", "title": "技能大赛一等奖", "evidence": {"file": "a.pdf"}},
        {"learner_id": "lrn-bd1", "kind": "certificate"},
    ]
    r = await deposit_batch(client, tokens, items)
    assert r.status_code == 200, r.text
    assert assessment.calls == ["POST /v1/certificates/check"]
    assert sorted(assessment.asked[0]) == sorted({good, before, "BD-NONE", theirs, suspended})
    body = r.json()
    assert kinds(r) == [
        "deposited",
        "existing",
        "existing",
        "certificate-not-found",
        "certificate-not-found",
        "certificate-not-valid",
        "validation",
        "deposited",
        "validation",
    ]
    assert (body["deposited"], body["existing"], body["rejected"]) == (2, 2, 5)
    rows = body["items"]
    assert [row["index"] for row in rows] == list(range(9))
    assert rows[0]["outcome"]["outcome_id"] == rows[1]["outcome"]["outcome_id"]
    assert rows[0]["outcome"]["level"] == 4 and rows[0]["outcome"]["status"] == "valid"
    assert rows[2]["outcome"]["outcome_id"] == earlier["outcome_id"]
    assert rows[3]["problem"]["status"] == 422
    assert rows[3]["problem"]["errors"][0]["loc"] == ["body", "certificate_number"]
    assert rows[5]["problem"]["status"] == 409 and "suspended" in rows[5]["problem"]["detail"]
    assert [e["loc"] for e in rows[6]["problem"]["errors"]] == [["body", "evidence"]]
    assert rows[7]["outcome"]["evidence"] == {"file": "a.pdf"}
    assert await _ledger(client, tokens, "lrn-bd1") == [("deposit", "0.0"), ("deposit", "0.0")]
    assert await _ledger(client, tokens, "lrn-bd2") == [("deposit", "0.0")]
    # The depositing university may now read the account; another may not.
    assert (await client.get("/v1/accounts/lrn-bd1", headers=univ(tokens))).status_code == 200
    assert (await client.get("/v1/accounts/lrn-bd1", headers=univ(tokens, "univ-b"))).status_code == 404
    events = (await client.get("/v1/events", headers=tokens.headers("platform"))).json()["events"]
    deposited = [e["subject"] for e in events if e["type"] == "credit_bank.outcome.deposited"]
    assert f"outcome:{rows[0]['outcome']['outcome_id']}" in deposited
    assert f"outcome:{rows[7]['outcome']['outcome_id']}" in deposited
    assert f"outcome:{earlier['outcome_id']}" in deposited and len(deposited) == 3


async def test_deposit_batch_idempotent_replay_and_assessment_down(client, tokens, assessment):
    number = assessment.issue("BD-IK", "lrn-bd4", AI, 4)
    key = str(uuid.uuid4())
    first = await deposit_batch(client, tokens, [cert("lrn-bd4", number)], key=key)
    replay = await deposit_batch(client, tokens, [cert("lrn-bd4", number)], key=key)
    assert (first.status_code, replay.status_code, replay.json()) == (200, 200, first.json())
    assert kinds(first) == ["deposited"]
    other = await deposit_batch(client, tokens, [cert("lrn-bd4", "BD-OTHER")], key=key)
    assert other.status_code == 422 and other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await _ledger(client, tokens, "lrn-bd4") == [("deposit", "0.0")]
    assessment.down = True
    down = await deposit_batch(client, tokens, [cert("lrn-bd4", "BD-X")])
    assert down.status_code == 503


async def test_every_rejection_type_in_one_mixed_batch(client, tokens, assessment, credit_app, session):
    pid = await programme(client, tokens, credits="20", ratio="0.5")  # cap 10
    await rule(client, tokens, pid, occupation=AI, min_level=4, credits="4", courses=["AI-1"])
    await rule(client, tokens, pid, occupation=ROBOT, min_level=4, credits="4", courses=["AI-1"])
    await rule(client, tokens, pid, occupation=WELDER, min_level=4, credits="4", courses=["W-1"])
    await rule(client, tokens, pid, occupation=BAKER, min_level=4, credits="4", courses=["K-1"])
    theirs = await programme(client, tokens, org="univ-b")
    await rule(client, tokens, theirs, occupation=AI, org="univ-b")
    learner = "lrn-bm1"
    ai4 = await _deposited(client, tokens, assessment, learner, AI, 4)
    ai4_again = await _deposited(client, tokens, assessment, learner, AI, 4)
    robot = await _deposited(client, tokens, assessment, learner, ROBOT, 4)
    no_rule = await _deposited(client, tokens, assessment, learner, "4-01-01-01", 4)
    suspended = await _deposited(client, tokens, assessment, learner, AI, 3)
    revoked = await _deposited(client, tokens, assessment, learner, AI, 2)
    # Two learners filling the cap: 4 + 4 credits, then a third certificate passes 10.
    capped = "lrn-bm2"
    cap_a = await _deposited(client, tokens, assessment, capped, AI, 4)
    cap_b = await _deposited(client, tokens, assessment, capped, WELDER, 4)
    cap_c = await _deposited(client, tokens, assessment, capped, BAKER, 4)
    numbers = {o["outcome_id"]: o["certificate_number"] for o in await _outcomes(client, tokens, learner)}
    assessment.change(numbers[suspended], "suspended", "成绩复核")
    assessment.change(numbers[revoked], "revoked", "舞弊")
    await feed_sync.sync_assessment_feed(session, credit_app.state.credit_bank.assessment)
    course = {"learner_id": learner, "kind": "course", "title": "数学", "evidence": {"grade": "A"}}
    course_id = (await deposit_batch(client, tokens, [course])).json()["items"][0]["outcome"]["outcome_id"]
    r = await convert_batch(
        client,
        tokens,
        [
            item(learner, ai4, pid),  # converted
            item(learner, ai4, pid),  # the same outcome again in the batch
            item(learner, ai4_again, pid),  # same occupation, same level
            item(learner, robot, pid),  # its course AI-1 is taken by ai4
            item(learner, no_rule, pid),
            item(learner, suspended, pid),
            item(learner, revoked, pid),
            item(learner, course_id, pid),  # a course outcome has no occupation
            item(learner, ai4, theirs),  # another university's programme
            item(learner, str(uuid.uuid4()), pid),
            item("lrn-not-the-holder", ai4, pid),
            item(capped, cap_a, pid),
            item(capped, cap_b, pid),
            item(capped, cap_c, pid),  # 8 + 4 > 10
        ],
    )
    assert r.status_code == 200, r.text
    assert kinds(r) == [
        "converted",
        "already-converted",
        "occupation-already-counted",
        "course-already-replaced",
        "no-conversion-rule",
        "outcome-suspended",
        "outcome-revoked",
        "no-conversion-rule",
        "programme-not-found",
        "outcome-not-found",
        "outcome-not-found",
        "converted",
        "converted",
        "conversion-cap-exceeded",
    ]
    body = r.json()
    assert (body["converted"], body["rejected"]) == (3, 11)
    rows = body["items"]
    assert rows[0]["conversion"]["credits"] == "4.0" and rows[0]["conversion"]["course_codes"] == ["AI-1"]
    assert rows[5]["problem"]["status"] == 409 and "成绩复核" in rows[5]["problem"]["detail"]
    assert rows[8]["problem"]["status"] == 404
    assert "8.0 + 4.0" in rows[13]["problem"]["detail"]
    ledger = await _ledger(client, tokens, learner)
    assert [k for k in ledger if k[0] == "convert"] == [("convert", "4.0")]
    assert rows[0]["conversion"]["ledger_entry_id"] in await _ids(client, tokens, learner)
    assert await _balance(client, tokens, capped) == "8.0"
    # The single route now agrees with what the batch stored.
    again = await convert_batch(client, tokens, [item(learner, ai4, pid), item(capped, cap_c, pid)])
    assert kinds(again) == ["already-converted", "conversion-cap-exceeded"]
    events = (await client.get("/v1/events?limit=500", headers=tokens.headers("platform"))).json()["events"]
    posted = [e["data"]["conversion_id"] for e in events if e["type"] == "credit_bank.conversion.posted"]
    assert posted == [rows[i]["conversion"]["conversion_id"] for i in (0, 11, 12)]


async def _outcomes(client, tokens, learner: str) -> list[dict[str, Any]]:
    """Outcomes of a learner, read back through the transcript-free route: the deposit events."""
    events = (await client.get("/v1/events?limit=500", headers=tokens.headers("platform"))).json()["events"]
    return [
        e["data"] for e in events if e["type"] == "credit_bank.outcome.deposited" and e["data"]["learner_id"] == learner
    ]


async def _ids(client, tokens, learner: str) -> list[int]:
    items = (await client.get(f"/v1/accounts/{learner}/ledger", headers=tokens.headers("admin"))).json()["items"]
    return [int(e["id"]) for e in items]


async def test_highest_level_replacement_inside_one_batch_and_across_batches(client, tokens, assessment):
    pid = await programme(client, tokens)
    await rule(client, tokens, pid, occupation=AI, min_level=4, credits="3", courses=["FND"])
    await rule(client, tokens, pid, occupation=AI, min_level=3, credits="5", courses=["FND", "CORE"])
    await rule(client, tokens, pid, occupation=AI, min_level=2, credits="8", courses=["FND", "CORE", "ADV"])
    learner = "lrn-bh1"
    l4 = await _deposited(client, tokens, assessment, learner, AI, 4)
    l3 = await _deposited(client, tokens, assessment, learner, AI, 3)
    l2 = await _deposited(client, tokens, assessment, learner, AI, 2)
    first = await convert_batch(client, tokens, [item(learner, l4, pid), item(learner, l3, pid)])
    assert kinds(first) == ["converted", "converted"], first.text
    low, high = (row["conversion"] for row in first.json()["items"])
    assert high["replaced_conversion_ids"] == [low["conversion_id"]] and low["replaced_conversion_ids"] == []
    assert await _ledger(client, tokens, learner) == [
        ("deposit", "0.0"),
        ("deposit", "0.0"),
        ("deposit", "0.0"),
        ("convert", "3.0"),
        ("reverse", "-3.0"),
        ("convert", "5.0"),
    ]
    transcript = (await client.get(f"/v1/accounts/{learner}/transcript", headers=univ(tokens))).json()
    [line] = transcript["programmes"]
    assert (line["converted_credits"], line["courses"]) == ("5.0", ["CORE", "FND"])
    assert {c["conversion_id"]: c["status"] for c in line["conversions"]} == {
        low["conversion_id"]: "reversed",
        high["conversion_id"]: "posted",
    }
    # Across batches: level 2 replaces the stored level 3; level 4 again is already converted.
    second = await convert_batch(client, tokens, [item(learner, l2, pid), item(learner, l4, pid)])
    assert kinds(second) == ["converted", "already-converted"], second.text
    assert second.json()["items"][0]["conversion"]["replaced_conversion_ids"] == [high["conversion_id"]]
    assert await _balance(client, tokens, learner) == "8.0"
    transcript = (await client.get(f"/v1/accounts/{learner}/transcript", headers=univ(tokens))).json()
    assert transcript["programmes"][0]["courses"] == ["ADV", "CORE", "FND"]
    events = (await client.get("/v1/events?limit=500", headers=tokens.headers("platform"))).json()["events"]
    conv = [(e["type"].rsplit(".", 1)[1], e["data"]["conversion_id"]) for e in events if ".conversion." in e["type"]]
    assert conv == [
        ("posted", low["conversion_id"]),
        ("reversed", low["conversion_id"]),
        ("posted", high["conversion_id"]),
        ("reversed", high["conversion_id"]),
        ("posted", second.json()["items"][0]["conversion"]["conversion_id"]),
    ]


async def test_conversion_batch_idempotent_replay_tenancy_and_size_limit(client, tokens, assessment):
    pid = await programme(client, tokens)
    await rule(client, tokens, pid, occupation=AI, credits="4")
    learner = "lrn-bt1"
    oid = await _deposited(client, tokens, assessment, learner, AI, 4)
    # University B cannot convert into A's programme: the row is rejected as the single route's 404.
    foreign = await convert_batch(client, tokens, [item(learner, oid, pid)], org="univ-b")
    assert foreign.status_code == 200 and kinds(foreign) == ["programme-not-found"]
    assert foreign.json()["items"][0]["problem"]["status"] == 404
    key = str(uuid.uuid4())
    first = await convert_batch(client, tokens, [item(learner, oid, pid)], key=key)
    replay = await convert_batch(client, tokens, [item(learner, oid, pid)], key=key)
    assert kinds(first) == ["converted"] and replay.json() == first.json()
    assert await _ledger(client, tokens, learner) == [("deposit", "0.0"), ("convert", "4.0")]
    # The key is the university's: the same key from another caller is another request.
    admin = {**tokens.headers("admin"), "Idempotency-Key": key}
    by_admin = await client.post("/v1/conversions/batch", json={"items": [item(learner, oid, pid)]}, headers=admin)
    assert kinds(by_admin) == ["already-converted"]
    for who in (
        tokens.headers("student", sub=learner),
        tokens.headers("platform"),
        tokens.headers("service"),
    ):
        for path in ("/v1/conversions/batch", "/v1/outcomes/batch"):
            r = await client.post(path, json={"items": []}, headers=who)
            assert r.status_code == 403, (path, who)
    too_many = await convert_batch(client, tokens, [item(learner, oid, pid)] * 1001)
    assert too_many.status_code == 422
    assert too_many.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in too_many.json()["errors"]] == [["body", "items"]]
    empty = await deposit_batch(client, tokens, [])
    assert empty.status_code == 422 and [e["loc"] for e in empty.json()["errors"]] == [["body", "items"]]
    too_many = await deposit_batch(client, tokens, [cert(learner, "X")] * 1001)
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["loc"] == ["body", "items"]
