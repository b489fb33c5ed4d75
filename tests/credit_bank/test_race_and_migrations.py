"""Committed work in a database of its own: concurrent conversions, and the migrations' round trip."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.kit import migrate
from skillpass.bootstrap import ensure_database, ensure_roles_and_schemas, role_url
from skillpass.registry import ALL
from tests.credit_bank.conftest import FakeAssessment, make_app
from tests.credit_bank.support import AI, ROBOT, convert, deposit, problem_type, programme, rule
from tests.support.fixtures import app_client

SNAPSHOT = """
SELECT 'col' AS k, table_name || '.' || column_name || ':' || data_type || ':' || is_nullable AS v
  FROM information_schema.columns WHERE table_schema = 'credit_bank'
UNION ALL SELECT 'idx', indexdef FROM pg_indexes WHERE schemaname = 'credit_bank'
UNION ALL SELECT 'con', conname || ':' || pg_get_constraintdef(c.oid) FROM pg_constraint c
  JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'credit_bank'
UNION ALL SELECT 'trg', tgname FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = 'credit_bank' AND NOT tgisinternal
UNION ALL SELECT 'grant', grantee || ':' || privilege_type FROM information_schema.role_table_grants
  WHERE table_schema = 'credit_bank' AND table_name = 'ledger_entries'
ORDER BY 1, 2"""


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
async def fresh_url(test_db) -> str:
    """A separate database with only the credit bank migrated: tests here commit."""
    name = "skillpass_cb_" + uuid.uuid4().hex[:8]
    await ensure_database(test_db.admin_url, name)
    db_admin = make_url(test_db.admin_url).set(database=name).render_as_string(hide_password=False)
    passwords = {s.name: make_url(test_db.role_urls[s.name]).password or "" for s in ALL}
    await ensure_roles_and_schemas(db_admin, passwords)
    spec = next(s for s in ALL if s.name == "credit_bank")
    url = role_url(db_admin, spec, passwords["credit_bank"])
    await asyncio.to_thread(migrate.upgrade, "credit_bank", url)
    return url


async def _snapshot(url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        return [(r["k"], r["v"]) for r in await conn.fetch(SNAPSHOT)]
    finally:
        await conn.close()


async def test_upgrade_downgrade_upgrade_is_identical(fresh_url):
    first = await _snapshot(fresh_url)
    assert ("trg", "ledger_entries_append_only") in first
    # The owner kept INSERT and SELECT on the ledger, and gave up UPDATE, DELETE and TRUNCATE.
    granted = {v.split(":")[1] for k, v in first if k == "grant"}
    assert {"INSERT", "SELECT"} <= granted and not granted & {"UPDATE", "DELETE", "TRUNCATE"}
    await asyncio.to_thread(migrate.downgrade, "credit_bank", fresh_url, "cb_0001")
    assert not any(v.startswith("ledger_entries.") for _, v in await _snapshot(fresh_url))
    await asyncio.to_thread(migrate.upgrade, "credit_bank", fresh_url)
    assert await _snapshot(fresh_url) == first


async def test_concurrent_conversions_of_one_outcome_exactly_one_wins(fresh_url, test_db, signing_key, tokens):
    assessment = FakeAssessment()
    app = make_app(test_db, assessment, fresh_url)
    engine = create_async_engine(fresh_url, pool_size=10, max_overflow=10)
    learner = f"lrn-race-{uuid.uuid4().hex[:6]}"
    try:
        async with app_client(app, engine, signing_key, rollback=False) as client:
            pid = await programme(client, tokens, credits="20", ratio="0.3")
            await rule(client, tokens, pid, occupation=AI, credits="4", courses=["A"])
            await rule(client, tokens, pid, occupation=ROBOT, credits="4", courses=["B"])
            numbers = [assessment.issue(f"RACE{uuid.uuid4().hex[:8]}", learner, occ, 4) for occ in (AI, ROBOT)]
            oids = [(await deposit(client, tokens, learner, n)).json()["outcome_id"] for n in numbers]
            same = await asyncio.gather(*(convert(client, tokens, learner, oids[0], pid) for _ in range(8)))
            assert sorted(r.status_code for r in same) == [201] + [409] * 7
            assert {problem_type(r) for r in same if r.status_code == 409} == {"already-converted"}
            ledger = (await client.get(f"/v1/accounts/{learner}/ledger", headers=tokens.headers("admin"))).json()
            assert [e["kind"] for e in ledger["items"]] == ["deposit", "deposit", "convert"]
            # Two different outcomes at once against a cap (6) that admits only one of them (4 each).
            second = f"{learner}-2"
            numbers = [assessment.issue(f"RACE{uuid.uuid4().hex[:8]}", second, occ, 4) for occ in (AI, ROBOT)]
            oids = [(await deposit(client, tokens, second, n)).json()["outcome_id"] for n in numbers]
            both = await asyncio.gather(*(convert(client, tokens, second, oid, pid) for oid in oids))
            assert sorted(r.status_code for r in both) == [201, 409]
            assert [problem_type(r) for r in both if r.status_code == 409] == ["conversion-cap-exceeded"]
            account = (await client.get(f"/v1/accounts/{second}", headers=tokens.headers("admin"))).json()
            assert (account["balance"], account["converted"]) == ("4.0", 1)
    finally:
        await engine.dispose()


async def test_the_unique_constraint_not_a_read_decides_the_race(fresh_url):
    """Two raw transactions insert the same (outcome, programme) with no lock: the second waits, then fails."""
    outcome, prog, rule_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    insert = (
        "INSERT INTO credit_bank.conversions (id, learner_id, outcome_id, programme_id, university_org, rule_id, "
        "occupation_code, level, credits, course_codes, status) "
        "VALUES ($1, 'lrn-raw', $2, $3, 'u', $4, '2-02-38-01', 4, 3, '[]', 'posted')"
    )
    a, b = await asyncpg.connect(_dsn(fresh_url)), await asyncpg.connect(_dsn(fresh_url))
    try:
        ta, tb = a.transaction(), b.transaction()
        await ta.start()
        await tb.start()
        await a.execute(insert, uuid.uuid4(), outcome, prog, rule_id)
        second = asyncio.create_task(b.execute(insert, uuid.uuid4(), outcome, prog, rule_id))
        await asyncio.sleep(0.3)
        assert not second.done()  # waiting on the first transaction's uncommitted row
        await ta.commit()
        with pytest.raises(asyncpg.UniqueViolationError):
            await second
        await tb.rollback()
    finally:
        await a.close()
        await b.close()


def _batch(learner: str, outcome_ids: list[str], pid: str) -> dict[str, object]:
    return {"items": [{"learner_id": learner, "outcome_id": o, "programme_id": pid} for o in outcome_ids]}


def _kinds(r) -> list[str]:
    return [row["status"] if row["status"] != "rejected" else row["problem"]["type"].rsplit("/", 1)[1] for row in r]


async def test_concurrent_batches_converting_one_outcome_exactly_one_wins(fresh_url, test_db, signing_key, tokens):
    assessment = FakeAssessment()
    app = make_app(test_db, assessment, fresh_url)
    engine = create_async_engine(fresh_url, pool_size=10, max_overflow=10)
    learner = f"lrn-brace-{uuid.uuid4().hex[:6]}"
    univ = tokens.headers("university", org="univ-a")
    try:
        async with app_client(app, engine, signing_key, rollback=False) as client:
            pid = await programme(client, tokens)
            await rule(client, tokens, pid, occupation=AI, credits="4", courses=["A"])
            await rule(client, tokens, pid, occupation=ROBOT, credits="4", courses=["B"])
            numbers = [assessment.issue(f"BR{uuid.uuid4().hex[:8]}", learner, occ, 4) for occ in (AI, ROBOT)]
            deposits = {
                "items": [{"learner_id": learner, "kind": "certificate", "certificate_number": n} for n in numbers]
            }
            rows = (await client.post("/v1/outcomes/batch", json=deposits, headers=univ)).json()["items"]
            shared, other = (row["outcome"]["outcome_id"] for row in rows)
            answers = await asyncio.gather(
                *(
                    client.post("/v1/conversions/batch", json=_batch(learner, [shared], pid), headers=univ)
                    for _ in range(4)
                ),
                client.post("/v1/conversions/batch", json=_batch(learner, [other, shared], pid), headers=univ),
            )
            firsts = [_kinds(r.json()["items"])[-1] for r in answers]
            assert sorted(firsts) == ["already-converted"] * 4 + ["converted"]
            ledger = (await client.get(f"/v1/accounts/{learner}/ledger", headers=tokens.headers("admin"))).json()
            converts = [e for e in ledger["items"] if e["kind"] == "convert"]
            assert sorted(e["outcome_id"] for e in converts) == sorted([shared, other])
    finally:
        await engine.dispose()


async def test_a_batch_that_loses_the_unique_constraint_is_decided_again(fresh_url, test_db, signing_key, tokens):
    """A conversion row inserted (uncommitted) by another transaction after the batch's reads: the
    batch's INSERT … ON CONFLICT waits on it, skips it when it commits, and the batch is decided again."""
    assessment = FakeAssessment()
    app = make_app(test_db, assessment, fresh_url)
    engine = create_async_engine(fresh_url, pool_size=4)
    learner = f"lrn-blost-{uuid.uuid4().hex[:6]}"
    univ = tokens.headers("university", org="univ-a")
    raw = await asyncpg.connect(_dsn(fresh_url))
    try:
        async with app_client(app, engine, signing_key, rollback=False) as client:
            pid = await programme(client, tokens)
            await rule(client, tokens, pid, occupation=AI, credits="4", courses=["A"])
            number = assessment.issue(f"BL{uuid.uuid4().hex[:8]}", learner, AI, 4)
            oid = (await deposit(client, tokens, learner, number)).json()["outcome_id"]
            tx = raw.transaction()
            await tx.start()
            await raw.execute(
                "INSERT INTO credit_bank.conversions (id, learner_id, outcome_id, programme_id, university_org, "
                "rule_id, occupation_code, level, credits, course_codes, status) "
                "VALUES ($1, $2, $3, $4, 'univ-a', $5, $6, 4, 4, '[]', 'posted')",
                uuid.uuid4(),
                learner,
                uuid.UUID(oid),
                uuid.UUID(pid),
                uuid.uuid4(),
                AI,
            )
            batch = asyncio.create_task(
                client.post("/v1/conversions/batch", json=_batch(learner, [oid], pid), headers=univ)
            )
            await asyncio.sleep(1.0)
            assert not batch.done()  # waiting on the other transaction's row
            await tx.commit()
            answer = await batch
            assert answer.status_code == 200, answer.text
            assert _kinds(answer.json()["items"]) == ["already-converted"]
            ledger = (await client.get(f"/v1/accounts/{learner}/ledger", headers=tokens.headers("admin"))).json()
            assert [e["kind"] for e in ledger["items"]] == ["deposit"]
    finally:
        await raw.close()
        await engine.dispose()
