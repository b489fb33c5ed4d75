"""asm_0003 numbers the certificates that already exist in issue order, then hands out the next."""

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
    await asyncio.to_thread(migrate.upgrade, "assessment", url)
    async with engine.begin() as conn:
        await conn.execute(text(CERT), {"n": "Y4", "b": body, "d": date(2026, 4, 1)})
        rows = (
            await conn.execute(text("SELECT number, status_index FROM assessment.certificates ORDER BY status_index"))
        ).all()
    await engine.dispose()
    assert [tuple(r) for r in rows] == [("Y1", 0), ("Y2", 1), ("Y3", 2), ("Y4", 3)]
