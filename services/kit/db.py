"""Async engine and sessions: SQLModel's AsyncSession, ``expire_on_commit=False``."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import Executable, MetaData, Row, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, EmulatedDBAPIException
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

from .settings import ServiceSettings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> MetaData:
    """Each service keeps its own MetaData so that migrations and tests see only its schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def make_engine(settings: ServiceSettings) -> AsyncEngine:
    connect_args: dict[str, object] = {"server_settings": {"application_name": f"skillpass-{settings.name}"}}
    if not settings.db_statement_cache:
        connect_args["statement_cache_size"] = 0
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # Failed statements are logged and raised without their values (a secret's hash, a name).
        hide_parameters=True,
        connect_args=connect_args,
    )
    ping_when_idle(engine, settings.db_ping_after_idle_s)
    return engine


def ping_when_idle(engine: AsyncEngine, idle_s: float) -> None:
    """Checks a pooled connection before use only when it sat idle for ``idle_s`` or longer.

    ``pool_pre_ping`` pings on every checkout, and the asyncpg dialect's ping is BEGIN, a query and
    ROLLBACK: three round trips before each request's own query (issue 15, ``GET /v1/lookup``). A
    connection used a moment ago is alive; one idle long enough to have met a database restart or
    a pooler's timeout is pinged, and replaced when the ping fails (the pool retries the checkout).
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return  # a new connection, or one in use a moment ago
        try:
            dbapi_connection.ping()
        except Exception as exc:  # whatever the driver raises for a dead connection
            raise DisconnectionError("stale pooled connection") from exc


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def sessionmaker_of(app: Starlette) -> async_sessionmaker[AsyncSession]:
    """The app's sessions (tests swap in one bound to their transaction), for work outside a request."""
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return maker


Reader = AsyncSession | AsyncEngine | AsyncConnection


async def read_rows(source: Reader, stmt: Executable, params: dict[str, Any]) -> Sequence[Row[Any]]:
    """One read-only statement's rows, outside a transaction where none is open.

    A session's first statement opens a transaction: BEGIN, the statement, and ROLLBACK when the
    session closes, three round trips where a single SELECT needs one (its own snapshot is the
    same). So on the engine (or a session on the engine that has not begun) the statement runs on
    a pooled connection in autocommit; on a connection or a session inside a transaction (a use
    case that wrote, or a test's rolled-back transaction) it runs there and sees those writes.
    """
    if isinstance(source, AsyncSession):
        if isinstance(source.bind, AsyncEngine) and not source.in_transaction():
            source = source.bind
        else:
            source = await source.connection()
    if isinstance(source, AsyncEngine):
        async with source.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return (await auto.execute(stmt, params)).all()
    return (await source.execute(stmt, params)).all()


async def fetch_raw(source: Reader, sql: str, *args: Any) -> list[Any]:
    """:func:`read_rows` for a hot read path: ``sql`` with asyncpg's ``$n`` parameters on the
    driver connection, rows as ``asyncpg.Record`` (``row["name"]``).

    SQLAlchemy's execution context (compiling the bound parameters, the cursor adapter, the result
    wrapper, a greenlet hop each way) was a fifth of ``GET /v1/lookup``'s CPU (issue 15, py-spy).
    Same rules as :func:`read_rows`: on the engine a pooled connection in autocommit (checked out
    and back through SQLAlchemy's pool, so the pool size, the idle ping and the connection budget
    are the engine's); on a connection or a session in a transaction, there, seeing its writes.
    """
    if isinstance(source, AsyncSession):
        if isinstance(source.bind, AsyncEngine) and not source.in_transaction():
            source = source.bind
        else:
            source = await source.connection()
    if isinstance(source, AsyncConnection):
        raw = (await source.get_raw_connection()).driver_connection
        return list(await raw.fetch(sql, *args))  # type: ignore[union-attr]
    try:
        fairy = await source.raw_connection()
    except (DBAPIError, EmulatedDBAPIException, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        # A new connection refused at checkout (the server down, starting up or shutting down).
        # SQLAlchemy's raw checkout raises the dialect's own error unwrapped (EmulatedDBAPIException)
        # or the socket's; either way the database is unavailable (503), not a fault of ours (500).
        raise ConnectionError("the database is unavailable") from exc
    try:
        rows = await fairy.driver_connection.fetch(sql, *args)  # type: ignore[union-attr]
    except asyncpg.PostgresError as exc:
        if not fairy.driver_connection.is_closed():  # type: ignore[union-attr]
            fairy.close()  # the server refused the statement; the connection is fine
            raise
        await greenlet_spawn(fairy.invalidate)  # the server shut it (an admin shutdown, a restart)
        raise ConnectionError("the database closed the connection") from exc
    except (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError) as exc:
        # InternalClientError: the protocol was still taking in the server's goodbye (a backend
        # terminated under an idle pooled connection) when the statement came - seen once in CI.
        await greenlet_spawn(fairy.invalidate)
        # The kit answers a ConnectionError as 503 database-unavailable (as it does SQLAlchemy's
        # invalidated-connection errors on the other paths), not as a 500.
        raise ConnectionError("the database connection was lost") from exc
    except BaseException:
        # Cancelled mid-statement: drop the connection (in a greenlet: closing asyncpg awaits).
        await greenlet_spawn(fairy.invalidate)
        raise
    # No transaction was begun on the adapter, so returning it to the pool awaits nothing.
    fairy.close()
    return list(rows)


def positional(sql: str, names: Sequence[str]) -> str:
    """A ``text()`` statement's ``:name`` parameters as asyncpg's ``$1..$n``, in ``names``' order
    (so one SQL string serves :func:`read_rows` and :func:`fetch_raw`)."""
    for n, name in enumerate(names, 1):
        sql = re.sub(rf"(?<!:):{name}\b", f"${n}", sql)
    return sql


def reader_of(app: Starlette) -> AsyncEngine | AsyncConnection:
    """What the app's sessions are bound to: the engine, or a test's connection in its transaction."""
    bind = sessionmaker_of(app).kw.get("bind")
    if not isinstance(bind, AsyncEngine | AsyncConnection):
        raise RuntimeError("the app's sessionmaker is bound to no engine or connection")
    return bind


async def get_reader(request: Request) -> AsyncEngine | AsyncConnection:
    """For read-only routes that need no ORM session: building and closing an ``AsyncSession``
    per request was a tenth of ``GET /v1/lookup``'s time (issue 15, py-spy). Use with :func:`read_rows`."""
    return reader_of(request.app)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; use cases commit explicitly, this never commits."""
    async with sessionmaker_of(request.app)() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReaderDep = Annotated[AsyncEngine | AsyncConnection, Depends(get_reader)]
