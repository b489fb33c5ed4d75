"""Issue 11 in assessment: findings that were 500s or wrong answers on the batch and verify routes."""

from __future__ import annotations

import json
from typing import Any

from tests.assessment.asm_support import make_body, record


async def test_nul_in_verify_query_is_422_not_500(client: Any) -> None:
    r = await client.get("/v1/verify", params={"number": "\x00", "name": "x"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"loc": ["query", "number"], "msg": "contains a NUL character"}]


async def test_csv_field_over_128_kib_is_422_naming_the_line(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    header = (
        "external_id,id_number,name,student_no,school_org,graduation_year,major,occupation_code,work_type,"
        "level,exam_date,theory_score,practical_score,review_score"
    )
    csv = header + '\nc1,"' + "x" * 140_000 + '",n,S1,univ-a,2027,m,6-25-02-05,,4,2026-11-10,88,90,\n'
    r = await client.post(
        f"/v1/batches?body_id={body['id']}&mode=partial",
        headers={**tokens.headers("university", org="univ-a"), "Content-Type": "text/csv"},
        content=csv.encode(),
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "line 2"] and "field larger" in r.json()["errors"][0]["msg"]


async def test_same_json_with_other_whitespace_replays_instead_of_conflicting(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    payload = {"body_id": body["id"], "mode": "partial", "records": [record("w1")]}
    h = {**tokens.headers("university", org="univ-a"), "Idempotency-Key": "ws-1", "Content-Type": "application/json"}
    first = await client.post("/v1/batches", headers=h, content=json.dumps(payload).encode())
    again = await client.post("/v1/batches", headers=h, content=json.dumps(payload, indent=2).encode())
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()


async def test_idempotency_keys_are_per_organisation_not_per_subject(client: Any, tokens: Any) -> None:
    # Every CLI-made university token has the same sub; only org tells them apart.
    a, b = await make_body(client, tokens, org="univ-a"), await make_body(client, tokens, org="univ-b")
    answers = []
    for org, body in (("univ-a", a), ("univ-b", b)):
        r = await client.post(
            "/v1/batches",
            headers={**tokens.headers("university", org=org, sub="cli"), "Idempotency-Key": "nightly"},
            json={"body_id": body["id"], "mode": "partial", "records": [record(f"o-{org}", school=org)]},
        )
        assert r.status_code == 201, r.text
        answers.append(r.json())
    assert answers[0]["batch_id"] != answers[1]["batch_id"]
