"""asm_0003 numbers the certificates in issue order; asm_0004 moves them (and every later one) to random entries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.kit import migrate
from skillpass.bootstrap import bootstrap, role_url
from skillpass.registry import ALL

CERT = (
    "INSERT INTO assessment.certificates (number, record_id, learner_id, holder_name, body_id, "
    "occupation_code, level, issued_on, status, in_catalogue_on_issue) VALUES "
    "(:n, gen_random_uuid(), 'lrn', '张三', :b, '6-25-02-05', 4, :d, 'valid', true)"
)
BY_INDEX = "SELECT number, status_index FROM assessment.certificates ORDER BY status_index"


async def test_existing_certificates_are_numbered_in_issue_order(pg_server: str, test_db: Any) -> None:
    db_admin = await bootstrap(pg_server, "skillpass_si_" + uuid.uuid4().hex[:8], test_db.passwords)
    [spec] = [s for s in ALL if s.name == "assessment"]
    url = role_url(db_admin, spec, test_db.passwords["assessment"])
    await asyncio.to_thread(migrate.downgrade, "assessment", url, "asm_0002")
    engine = create_async_engine(url)
    body = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO assessment.bodies (id, name, uscc, kind, university_org, district) "
                "VALUES (:b, 'x', '91310000000000001X', 'employer', 'univ-a', '闵行区')"
            ),
            {"b": body},
        )
        for number, issued in (("Y3", date(2026, 3, 1)), ("Y1", date(2026, 1, 1)), ("Y2", date(2026, 1, 1))):
            await conn.execute(text(CERT), {"n": number, "b": body, "d": issued})
    await asyncio.to_thread(migrate.upgrade, "assessment", url, "asm_0003")
    async with engine.begin() as conn:
        await conn.execute(text(CERT), {"n": "Y4", "b": body, "d": date(2026, 4, 1)})
        rows = (await conn.execute(text(BY_INDEX))).all()
    assert [tuple(r) for r in rows] == [("Y1", 0), ("Y2", 1), ("Y3", 2), ("Y4", 3)]

    await asyncio.to_thread(migrate.upgrade, "assessment", url)
    async with engine.begin() as conn:
        slots = dict((await conn.execute(text("SELECT position, slot FROM assessment.status_slots"))).all())
        moved = dict((await conn.execute(text(BY_INDEX))).all())
        for n in range(5, 45):
            await conn.execute(text(CERT), {"n": f"Y{n}", "b": body, "d": date(2026, 5, 1)})
        fresh = dict((await conn.execute(text(BY_INDEX))).all())
    await asyncio.to_thread(migrate.downgrade, "assessment", url, "asm_0003")
    async with engine.begin() as conn:
        back = dict((await conn.execute(text(BY_INDEX))).all())
    await engine.dispose()
    # A random permutation of one list's 131,072 entries; existing certificates go through it.
    assert sorted(slots) == sorted(slots.values()) == list(range(131_072))
    assert slots != {i: i for i in range(131_072)}
    assert moved == {"Y1": slots[0], "Y2": slots[1], "Y3": slots[2], "Y4": slots[3]}
    # Later certificates: the next counts, through the same permutation, unique, not in issue order.
    assert [fresh[f"Y{n}"] for n in range(5, 45)] == [slots[n - 1] for n in range(5, 45)]
    assert len(set(fresh.values())) == 44
    assert [fresh[f"Y{n}"] for n in range(5, 45)] != sorted(fresh[f"Y{n}"] for n in range(5, 45))
    # Downgrade restores the counts.
    assert back == {f"Y{n}": n - 1 for n in range(1, 45)}
