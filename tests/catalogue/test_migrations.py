"""The catalogue's migrations round-trip: upgrade → downgrade → upgrade leaves the same schema."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.catalogue.app import create_app
from services.catalogue.demo import demo_edition_id, load_demo
from services.catalogue.settings import CatalogueSettings
from services.kit import migrate
from services.kit.db import make_sessionmaker
from skillpass.bootstrap import ensure_database, ensure_roles_and_schemas, role_url
from skillpass.registry import ALL
from tests.support.fixtures import app_client, shared_settings_for_tests

SNAPSHOT = """
SELECT 'col' AS k, table_name || '.' || column_name || ':' || data_type || ':' || is_nullable AS v
  FROM information_schema.columns WHERE table_schema = 'catalogue'
UNION ALL SELECT 'idx', indexdef FROM pg_indexes WHERE schemaname = 'catalogue'
UNION ALL SELECT 'con', conname || ':' || pg_get_constraintdef(c.oid) FROM pg_constraint c
  JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'catalogue'
UNION ALL SELECT 'trg', tgname FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = 'catalogue' AND NOT tgisinternal
ORDER BY 1, 2"""
NEW = str(demo_edition_id("demo-2026"))


async def snapshot(url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        return [(r["k"], r["v"]) for r in await conn.fetch(SNAPSHOT)]
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def fresh_catalogue_url(test_db) -> str:
    """A separate database with only the catalogue migrated: tests here may commit."""
    name = "skillpass_mig_" + uuid.uuid4().hex[:8]
    await ensure_database(test_db.admin_url, name)
    db_admin = make_url(test_db.admin_url).set(database=name).render_as_string(hide_password=False)
    # Roles are cluster-wide: re-use the test database's passwords rather than resetting them.
    passwords = {s.name: make_url(test_db.role_urls[s.name]).password or "" for s in ALL}
    await ensure_roles_and_schemas(db_admin, passwords)
    spec = next(s for s in ALL if s.name == "catalogue")
    url = role_url(db_admin, spec, passwords["catalogue"])
    await asyncio.to_thread(migrate.upgrade, "catalogue", url)
    return url


async def test_upgrade_downgrade_upgrade_is_identical(fresh_catalogue_url):
    url = fresh_catalogue_url
    first = await snapshot(url)
    await asyncio.to_thread(migrate.downgrade, "catalogue", url, "cat_0001")
    assert not any(v.startswith("editions.") for _, v in await snapshot(url))
    await asyncio.to_thread(migrate.upgrade, "catalogue", url)
    assert await snapshot(url) == first
    assert ("trg", "tr_entries_only_in_drafts") in first


async def test_concurrent_publishes_never_overlap(fresh_catalogue_url, signing_key, tokens):
    """Two admins publish two drafts for the same day at once: one wins, the other is told why."""
    settings = CatalogueSettings(database_url=fresh_catalogue_url, shared=shared_settings_for_tests())
    app = create_app(settings)
    engine = create_async_engine(fresh_catalogue_url)
    try:
        async with make_sessionmaker(engine)() as session:
            await load_demo(session)
        async with app_client(app, engine, signing_key, rollback=False) as client:
            admin = tokens.headers("admin")
            drafts = [
                (await client.post("/v1/editions", json={"title": f"并发 {n}", "based_on": NEW}, headers=admin)).json()[
                    "id"
                ]
                for n in range(2)
            ]
            answers = await asyncio.gather(
                *(
                    client.post(f"/v1/editions/{d}/publish", json={"effective_from": "2027-01-01"}, headers=admin)
                    for d in drafts
                )
            )
            assert sorted(r.status_code for r in answers) == [200, 422]
            r = await client.get("/v1/editions", params={"status": "published"}, headers=admin)
            published = r.json()["items"]
            assert [e["effective_from"] for e in published] == ["2027-01-01"]
            r = await client.get(f"/v1/editions/{NEW}", headers=admin)
            assert (r.json()["status"], r.json()["effective_to"]) == ("superseded", "2026-12-31")
    finally:
        await engine.dispose()
