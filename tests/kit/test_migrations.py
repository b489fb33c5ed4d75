"""Each schema's history round-trips (upgrade → downgrade → upgrade) and matches its models."""

import asyncio
import importlib
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.kit import migrate
from skillpass.bootstrap import bootstrap, role_url
from skillpass.registry import ALL


@pytest.fixture(scope="module")
async def fresh_db(pg_server, test_db):
    passwords = test_db.passwords  # roles are cluster-wide: keep the session's passwords
    db_admin = await bootstrap(pg_server, "skillpass_rt_" + uuid.uuid4().hex[:8], passwords)
    return {s.name: role_url(db_admin, s, passwords[s.name]) for s in ALL}


def _models_metadata(schema: str):
    module = "gateway.models" if schema == "gateway" else f"services.{schema}.models"
    return importlib.import_module(module).metadata


@pytest.mark.parametrize("schema", [s.name for s in ALL])
async def test_round_trip_leaves_no_diff(fresh_db, schema):
    url = fresh_db[schema]
    await asyncio.to_thread(migrate.downgrade, schema, url, "base")
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = :s AND table_name <> "
                    "'alembic_version'"
                ),
                {"s": schema},
            )
        ).scalar_one()
    assert tables == 0, "downgrade to base must drop every table"
    await asyncio.to_thread(migrate.upgrade, schema, url)

    def diff(sync_conn):
        ctx = MigrationContext.configure(
            sync_conn,
            opts={
                "include_schemas": True,
                "compare_type": True,
                "include_name": lambda name, type_, parents: type_ != "schema" or name in (None, schema),
                "include_object": lambda obj, name, type_, reflected, other: (
                    (type_ != "table" or getattr(obj, "schema", None) == schema) and name != "alembic_version"
                ),
            },
        )
        return compare_metadata(ctx, _models_metadata(schema))

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    await engine.dispose()
    assert differences == [], f"models and migrations of {schema} disagree: {differences}"


async def test_a_role_cannot_read_another_schema(test_db):
    engine = create_async_engine(test_db.role_urls["catalogue"])
    async with engine.connect() as conn:
        with pytest.raises(Exception, match="permission denied"):
            await conn.execute(text("SELECT 1 FROM gateway.clients LIMIT 1"))
    await engine.dispose()
