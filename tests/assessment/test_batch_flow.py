"""Replays, duplicates, concurrency of serials, events and batch tenancy."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from tests.assessment.asm_support import events, make_body, record, upload
from tests.support.fixtures import app_client


async def test_idempotent_replay_gives_the_first_answer(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    rows = [record("i1"), record("i2", theory=10)]
    first = await upload(client, tokens, body["id"], rows, key="k-1")
    again = await upload(client, tokens, body["id"], rows, key="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = await upload(client, tokens, body["id"], [record("i3")], key="k-1")
    assert other.status_code == 422
    assert other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    listed = await client.get(f"/v1/records?body_id={body['id']}", headers=tokens.headers("admin"))
    assert len(listed.json()["items"]) == 2


async def test_resent_external_ids_are_duplicates_not_new_records(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    first = (await upload(client, tokens, body["id"], [record("d1"), record("d2", theory=0)])).json()
    second = (await upload(client, tokens, body["id"], [record("d1"), record("d2", theory=0), record("d3")])).json()
    assert (second["accepted"], second["duplicates"], second["rejected"]) == (1, 2, 0)
    for before, after in zip(first["rows"], second["rows"][:2], strict=True):
        assert after["status"] == "duplicate"
        assert (after["record_id"], after["certificate_number"]) == (
            before["record_id"],
            before["certificate_number"],
        )
    assert second["rows"][2]["certificate_number"].endswith("000002")
    listed = await client.get(f"/v1/records?body_id={body['id']}", headers=tokens.headers("admin"))
    assert len(listed.json()["items"]) == 3


async def test_get_batch_and_tenant_isolation(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    answer = (await upload(client, tokens, body["id"], [record("g1")])).json()
    r = await client.get(f"/v1/batches/{answer['batch_id']}", headers=tokens.headers("university", org="univ-a"))
    assert r.status_code == 200
    assert r.json() == answer
    r = await client.get(f"/v1/batches/{answer['batch_id']}", headers=tokens.headers("university", org="univ-b"))
    assert r.status_code == 404


async def test_events_carry_what_consumers_need_and_no_personal_data(client: Any, tokens: Any, app: Any) -> None:
    body = await make_body(client, tokens)
    rec = record("e1", name="欧阳娜娜")
    answer = (await upload(client, tokens, body["id"], [rec, record("e2", code="6-25-02-05", theory=1)])).json()
    number = answer["rows"][0]["certificate_number"]
    issued = await events(app, prefix="assessment.certificate.issued", subject=f"certificate:{number}")
    assert len(issued) == 1
    data = issued[0]["data"]
    assert {
        "number",
        "learner_id",
        "occupation_code",
        "work_type",
        "level",
        "body_id",
        "issued_on",
        "in_catalogue_on_issue",
    } <= set(data)
    assert data["number"] == number
    assert data["learner_id"].startswith("lrn_")
    assert data["level"] == 4
    assert data["in_catalogue_on_issue"] is True
    assert data["occupation_name"] == "工业机器人系统运维员"
    assert data["holder_name_masked"] == "欧***"
    completed = await events(app, prefix="assessment.batch.completed", subject=f"batch:{answer['batch_id']}")
    assert completed[0]["data"]["accepted"] == 2
    assert completed[0]["data"]["certificates_issued"] == 1
    dumped = json.dumps(await events(app), ensure_ascii=False)
    assert rec["candidate"]["id_number"] not in dumped
    assert "欧阳娜娜" not in dumped


async def test_concurrent_batches_never_share_a_number(app: Any, test_db: Any, signing_key: Any, tokens: Any) -> None:
    """Committed work in a unique org: two batches at once on one body, numbers disjoint and gapless."""
    org = f"univ-conc-{uuid.uuid4().hex[:8]}"
    async with app_client(app, test_db.engine("assessment"), signing_key, rollback=False) as c:
        body = await make_body(c, tokens, org=org)
        batches = [[record(f"{n}-{i}", school=org) for i in range(150)] for n in ("x", "y", "z")]
        answers = await asyncio.gather(*(upload(c, tokens, body["id"], b, org=org) for b in batches))
    assert [a.status_code for a in answers] == [201, 201, 201]
    numbers = [row["certificate_number"] for a in answers for row in a.json()["rows"]]
    assert len(set(numbers)) == 450
    assert sorted(int(n[-6:]) for n in numbers) == list(range(1, 451))


async def test_one_universitys_upload_never_rewrites_what_another_sees(client: Any, tokens: Any) -> None:
    """The same person assessed by university A's employer body and by university B's social body:
    each university keeps the details it uploaded."""
    from tests.assessment.asm_support import make_id_number, unique

    person = make_id_number(unique())
    own = await make_body(client, tokens, org="univ-a")
    social = await make_body(client, tokens, org="univ-b", kind="social")
    a = await upload(client, tokens, own["id"], [record("a1", id_number=person, name="张三")], org="univ-a")
    b = await upload(client, tokens, social["id"], [record("b1", id_number=person, name="张叁")], org="univ-b")
    assert a.status_code == b.status_code == 201, (a.text, b.text)

    def names(answer: Any) -> list[str]:
        return [r["candidate"]["name"] for r in answer.json()["items"]]

    seen_by_a = await client.get(f"/v1/records?body_id={own['id']}", headers=tokens.headers("university", org="univ-a"))
    seen_by_b = await client.get(
        f"/v1/records?body_id={social['id']}", headers=tokens.headers("university", org="univ-b")
    )
    assert names(seen_by_a) == ["张三"]
    assert names(seen_by_b) == ["张叁"]
    # Same person, same learner_id across both.
    assert seen_by_a.json()["items"][0]["learner_id"] == seen_by_b.json()["items"][0]["learner_id"]


async def test_concurrent_filing_of_one_credit_code_is_one_201_and_one_409(
    app: Any, test_db: Any, signing_key: Any, tokens: Any
) -> None:
    """Check-then-insert races on the unique index: the loser gets 409, never a 500."""
    from tests.assessment.asm_support import make_uscc, unique

    body = {
        "name": "并发 评价机构",
        "uscc": make_uscc(unique()),
        "kind": "social",
        "university_org": None,
        "district": "闵行区",
    }
    async with app_client(app, test_db.engine("assessment"), signing_key, rollback=False) as c:
        answers = await asyncio.gather(
            *(c.post("/v1/bodies", json=body, headers=tokens.headers("admin")) for _ in range(4))
        )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert {a.json()["type"] for a in answers if a.status_code == 409} == {
        "https://skillpass.sh.gov.cn/problems/duplicate-body"
    }


async def test_exhausted_serials_are_a_409_not_a_500(client: Any, tokens: Any) -> None:
    from sqlalchemy import text

    from services.kit.clock import today_in_shanghai

    body = await make_body(client, tokens)
    sequence = (await client.get(f"/v1/bodies/{body['id']}", headers=tokens.headers("admin"))).json()["sequence"]
    async with client._transport.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        await session.execute(
            text(
                "INSERT INTO assessment.certificate_serials (body_sequence, issue_year, level, next_serial) "
                "VALUES (:s, :y, 4, 999999)"
            ),
            {"s": sequence, "y": today_in_shanghai().year % 100},
        )
        await session.commit()
    r = await upload(client, tokens, body["id"], [record("last"), record("one-too-many")])
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/certificate-serials-exhausted")
