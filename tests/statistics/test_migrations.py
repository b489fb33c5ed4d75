"""The statistics migrations round-trip, and the models agree with them (autogenerate finds nothing)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.kit import migrate
from services.statistics.models import SCHEMA, metadata
from skillpass.bootstrap import ensure_database, ensure_roles_and_schemas, role_url
from skillpass.registry import ALL
from tests.catalogue.test_migrations import SNAPSHOT, snapshot


async def _fresh(test_db: Any) -> str:
    name = "skillpass_stmig_" + uuid.uuid4().hex[:8]
    await ensure_database(test_db.admin_url, name)
    db_admin = make_url(test_db.admin_url).set(database=name).render_as_string(hide_password=False)
    passwords = {s.name: make_url(test_db.role_urls[s.name]).password or "" for s in ALL}
    await ensure_roles_and_schemas(db_admin, passwords)
    return role_url(db_admin, next(s for s in ALL if s.name == SCHEMA), passwords[SCHEMA])


async def test_round_trip_and_no_drift(test_db: Any, monkeypatch: Any) -> None:
    import tests.catalogue.test_migrations as cat

    monkeypatch.setattr(cat, "SNAPSHOT", SNAPSHOT.replace("'catalogue'", f"'{SCHEMA}'"))
    url = await _fresh(test_db)
    await asyncio.to_thread(migrate.upgrade, SCHEMA, url)
    first = await snapshot(url)
    assert any(v.startswith("certificates.number") for _, v in first)
    await asyncio.to_thread(migrate.downgrade, SCHEMA, url, "base")
    await asyncio.to_thread(migrate.upgrade, SCHEMA, url)
    assert await snapshot(url) == first

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: Any) -> list[Any]:
                ctx = MigrationContext.configure(
                    sync_conn,
                    opts={
                        "include_schemas": True,
                        "include_name": lambda name, type_, _: type_ != "schema" or name == SCHEMA,
                        "include_object": lambda obj, name, type_, r, c: (
                            type_ != "table" or (obj.schema == SCHEMA and name != "alembic_version")
                        ),
                        "compare_type": True,
                    },
                )
                return list(compare_metadata(ctx, metadata))

            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()
