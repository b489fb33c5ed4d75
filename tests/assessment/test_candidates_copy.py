"""Candidates of an upload: new learners go in by COPY, stored ones are updated by the upsert, and
a learner stored in the meantime (another body's upload) makes the COPY step back to the upsert
(issue 15, B4). Every test runs in a transaction that is rolled back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from services.assessment.candidates import COLUMNS, copy_new_candidates, upsert_candidates


@pytest.fixture
async def conn(test_db: Any) -> AsyncIterator[Any]:
    engine = test_db.engine("assessment")
    async with engine.connect() as sa_conn:
        trans = await sa_conn.begin()
        await sa_conn.execute(text("SELECT 1"))  # BEGIN is sent: the COPY's savepoint nests in it
        raw = (await sa_conn.get_raw_connection()).driver_connection
        try:
            yield raw
        finally:
            await trans.rollback()


def _row(learner: str, org: str, name: str = "张三", year: int = 2027) -> tuple[Any, ...]:
    return (learner, org, f"v1.sealed-{learner}", "310***********1234", name, f"S-{learner}", org, year, "智能制造")


async def _stored(conn: Any, org: str) -> dict[str, dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {', '.join(COLUMNS)} FROM assessment.candidates WHERE owner_org = $1 ORDER BY learner_id", org
    )
    return {r["learner_id"]: dict(r) for r in rows}


async def test_new_learners_are_stored_and_stored_ones_updated(conn: Any) -> None:
    org = f"univ-{uuid.uuid4().hex[:8]}"
    await upsert_candidates(conn, [_row("lrn_a", org, name="旧名")])
    await upsert_candidates(conn, [_row("lrn_a", org, name="新名", year=2028), _row("lrn_b", org), _row("lrn_c", org)])
    stored = await _stored(conn, org)
    assert sorted(stored) == ["lrn_a", "lrn_b", "lrn_c"]
    assert stored["lrn_a"]["name"] == "新名" and stored["lrn_a"]["graduation_year"] == 2028
    assert stored["lrn_a"]["id_number_sealed"] == "v1.sealed-lrn_a"
    assert stored["lrn_b"] == dict(zip(COLUMNS, _row("lrn_b", org), strict=True))
    # The same learner at another university is another row.
    other = f"univ-{uuid.uuid4().hex[:8]}"
    await upsert_candidates(conn, [_row("lrn_a", other)])
    assert list(await _stored(conn, other)) == ["lrn_a"] and (await _stored(conn, org))["lrn_a"]["name"] == "新名"


async def test_a_learner_stored_meanwhile_makes_the_copy_step_back(conn: Any) -> None:
    org = f"univ-{uuid.uuid4().hex[:8]}"
    await upsert_candidates(conn, [_row("lrn_x", org, name="先到")])
    # As if the check for stored learners had missed lrn_x (stored by a concurrent upload since).
    assert await copy_new_candidates(conn, [_row("lrn_y", org), _row("lrn_x", org, name="后到")]) is False
    assert list(await _stored(conn, org)) == ["lrn_x"]  # nothing of the COPY stayed
    assert await conn.fetchval("SELECT 1") == 1  # and the transaction goes on
    await upsert_candidates(conn, [_row("lrn_y", org), _row("lrn_x", org, name="后到")])
    stored = await _stored(conn, org)
    assert sorted(stored) == ["lrn_x", "lrn_y"] and stored["lrn_x"]["name"] == "后到"


async def test_copy_of_new_learners_only(conn: Any) -> None:
    org = f"univ-{uuid.uuid4().hex[:8]}"
    xact = await conn.fetchval("SELECT pg_current_xact_id()::text")
    assert await copy_new_candidates(conn, [_row("lrn_p", org), _row("lrn_q", org)]) is True
    assert sorted(await _stored(conn, org)) == ["lrn_p", "lrn_q"]
    # A savepoint in the caller's transaction, not a transaction of its own (nothing committed).
    assert await conn.fetchval("SELECT pg_current_xact_id()::text") == xact
