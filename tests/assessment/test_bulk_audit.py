"""Issue 11, audit of writes SQLAlchemy does not see: a batch's rows go in by asyncpg COPY, and
the batch is one summary entry (the university, the batch, its counts); the certificate serials
bumped with a SQL upsert are an entry of the engine hook."""

from __future__ import annotations

from typing import Any

from tests.assessment.asm_support import make_body, make_id_number, record, upload

ID = make_id_number(424242)


async def test_a_batch_written_by_copy_is_one_audit_entry(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    admin = tokens.headers("admin")
    before = (await client.get("/v1/audit", params={"limit": 200}, headers=admin)).json()["items"]
    rows = [record("a1", id_number=ID), record("a2", theory=10), record("a3", code="2-02-38-01", level=5)]
    answer = (await upload(client, tokens, body["id"], rows)).json()
    entries = (await client.get("/v1/audit", params={"limit": 200}, headers=admin)).json()["items"]
    new = entries[: len(entries) - len(before)]
    batch = [e for e in new if e["entity"] == "batches"]
    assert len(batch) == 1, new
    entry = batch[0]
    assert (entry["action"], entry["actor_role"], entry["actor_org"], entry["entity_id"]) == (
        "insert",
        "university",
        "univ-a",
        answer["batch_id"],
    )
    assert entry["after"] == {
        "bulk": True,
        "accepted": answer["accepted"],
        "rejected": answer["rejected"],
        "duplicate": answer["duplicates"],
        "body_id": body["id"],
    }
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    serials = [e for e in new if e["entity"] == "certificate_serials"]
    assert serials and all(e["after"]["bulk"] and e["actor_org"] == "univ-a" for e in serials)
    # Nothing of the records' content (names, ID numbers) is in the log.
    assert ID not in str(new) and "张三" not in str(new)


async def test_a_dry_run_writes_no_entry(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    admin = tokens.headers("admin")
    before = (await client.get("/v1/audit", params={"limit": 200}, headers=admin)).json()["items"]
    r = await client.post(
        "/v1/batches",
        params={"dry_run": "true"},
        headers=tokens.headers("university", org="univ-a"),
        json={"body_id": body["id"], "mode": "partial", "records": [record("b1")]},
    )
    assert r.status_code == 200, r.text
    after = (await client.get("/v1/audit", params={"limit": 200}, headers=admin)).json()["items"]
    assert after == before
