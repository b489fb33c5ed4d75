"""Alembic: one environment and history per service schema, the version table in that schema."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from .feed import outbox_tables
from .idempotency import idempotency_table

MIGRATIONS_ROOT = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(schema: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_ROOT / schema))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(schema: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(schema, url), revision)


def downgrade(schema: str, url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(schema, url), revision)


def kernel_tables(schema: str) -> MetaData:
    """The outbox and idempotency tables every service has, on a throw-away MetaData."""
    md = MetaData(schema=schema)
    outbox_tables(md)
    idempotency_table(md)
    return md


def create_kernel_tables(bind: Connection, schema: str) -> None:
    kernel_tables(schema).create_all(bind)


def drop_kernel_tables(bind: Connection, schema: str) -> None:
    kernel_tables(schema).drop_all(bind)


def run_env(schema: str, target_metadata: MetaData) -> None:
    """Body of every ``migrations/<schema>/env.py``."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return bool(getattr(obj, "schema", None) == schema)
        return True

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_object=include_object,
            # Reflect only this service's schema: its role cannot read the others anyway.
            include_name=lambda name, type_, parents: type_ != "schema" or name in (None, schema),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(context.config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
            await conn.commit()
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=target_metadata,
            version_table_schema=schema,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(run_async())
