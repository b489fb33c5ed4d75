"""Creates the database, one role and schema per service, extensions; runs every migration."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import asyncpg
from sqlalchemy.engine import make_url

from services.kit import migrate

from .registry import ALL, ProcessSpec

DEV_ROLE_PASSWORD = "dev"


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def role_url(admin_url: str, spec: ProcessSpec, password: str = DEV_ROLE_PASSWORD, database: str | None = None) -> str:
    u = make_url(admin_url)
    return (
        f"postgresql+asyncpg://{spec.role}:{quote(password, safe='')}@{u.host}:{u.port or 5432}/"
        f"{database or u.database}"
    )


async def ensure_database(admin_url: str, database: str) -> None:
    admin_pg = make_url(admin_url).set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(_asyncpg_dsn(admin_pg))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def ensure_roles_and_schemas(admin_url: str, passwords: dict[str, str] | None = None) -> None:
    """Each service's role owns only its schema; no role is granted another's."""
    conn = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        db = make_url(admin_url).database
        for spec in ALL:
            password = (passwords or {}).get(spec.name, DEV_ROLE_PASSWORD)
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", spec.role)
            verb = "ALTER" if exists else "CREATE"
            # Identifiers come from our registry; the password is a quoted literal.
            literal = await conn.fetchval("SELECT quote_literal($1)", password)
            await conn.execute(f"{verb} ROLE {spec.role} LOGIN PASSWORD {literal}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.name} AUTHORIZATION {spec.role}")
            await conn.execute(f"ALTER ROLE {spec.role} SET search_path = public")
            await conn.execute(f'GRANT CONNECT ON DATABASE "{db}" TO {spec.role}')
    finally:
        await conn.close()


def migrate_all(admin_url: str, passwords: dict[str, str] | None = None) -> None:
    """Runs every service's migrations as that service's own role, so it owns its tables."""
    for spec in ALL:
        migrate.upgrade(spec.name, role_url(admin_url, spec, (passwords or {}).get(spec.name, DEV_ROLE_PASSWORD)))


async def bootstrap(admin_url: str, database: str, passwords: dict[str, str] | None = None) -> str:
    await ensure_database(admin_url, database)
    db_admin = make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    await ensure_roles_and_schemas(db_admin, passwords)
    await asyncio.to_thread(migrate_all, db_admin, passwords)
    return db_admin
