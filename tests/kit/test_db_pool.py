"""The pool pings a connection only after it sat idle, and replaces one the server dropped."""

from __future__ import annotations

import socket

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from services.kit.db import fetch_raw, make_sessionmaker, ping_when_idle, positional, read_rows
from tests.support.fixtures import DatabaseUnderTest


async def _backend_pid(engine: object) -> int:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(admin_url: str, pid: int) -> None:
    admin = create_async_engine(admin_url)
    try:
        async with admin.connect() as conn:
            assert (await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})).scalar_one()
    finally:
        await admin.dispose()


async def test_a_dropped_idle_connection_is_pinged_and_replaced(test_db: DatabaseUnderTest) -> None:
    engine = create_async_engine(test_db.role_urls["catalogue"], pool_size=1, max_overflow=0)
    ping_when_idle(engine, 0.0)  # every reused connection counts as idle: always pinged
    try:
        first = await _backend_pid(engine)
        await _terminate(test_db.admin_url, first)
        second = await _backend_pid(engine)  # the ping fails, the pool connects anew, the query answers
        assert second != first
    finally:
        await engine.dispose()


async def test_a_busy_connection_is_not_pinged(test_db: DatabaseUnderTest) -> None:
    """Without a ping the dropped connection surfaces once (that is the saved round trip), then
    the pool has replaced it."""
    engine = create_async_engine(test_db.role_urls["catalogue"], pool_size=1, max_overflow=0)
    ping_when_idle(engine, 3600.0)
    try:
        first = await _backend_pid(engine)
        await _terminate(test_db.admin_url, first)
        with pytest.raises(DBAPIError):
            await _backend_pid(engine)
        assert await _backend_pid(engine) != first
    finally:
        await engine.dispose()


async def test_read_rows_outside_a_transaction_opens_none(test_db: DatabaseUnderTest) -> None:
    engine = create_async_engine(test_db.role_urls["catalogue"])
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await read_rows(
                session, text("SELECT current_setting('transaction_isolation'), CAST(:x AS int) AS x"), {"x": 7}
            )
            assert [tuple(r) for r in rows] == [("read committed", 7)]
            assert not session.in_transaction()  # nothing begun: no BEGIN/ROLLBACK round trips
    finally:
        await engine.dispose()


async def test_read_rows_inside_a_transaction_sees_its_writes(test_db: DatabaseUnderTest) -> None:
    engine = create_async_engine(test_db.role_urls["catalogue"])
    try:
        async with make_sessionmaker(engine)() as session:
            conn = await session.connection()
            await conn.execute(text("CREATE TEMP TABLE t_read_rows (n int) ON COMMIT DROP"))
            await conn.execute(text("INSERT INTO t_read_rows VALUES (1), (2)"))
            rows = await read_rows(session, text("SELECT n FROM t_read_rows ORDER BY n"), {})
            assert [r.n for r in rows] == [1, 2]
            assert session.in_transaction()
            await session.rollback()
    finally:
        await engine.dispose()


async def test_fetch_raw_on_the_engine_returns_its_connection_to_the_pool(test_db: DatabaseUnderTest) -> None:
    engine = create_async_engine(test_db.role_urls["catalogue"], pool_size=1, max_overflow=0, pool_timeout=2)
    try:
        for n in range(3):  # a pool of one: each call would wait forever if the connection leaked
            rows = await fetch_raw(engine, "SELECT $1::int AS x, pg_backend_pid() AS pid", n)
            assert rows[0]["x"] == n
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        pid = rows[0]["pid"]
        # A statement the server refused leaves the connection usable: back in the pool.
        with pytest.raises(asyncpg.PostgresError):
            await fetch_raw(engine, "SELECT 1 / 0")
        assert (await fetch_raw(engine, "SELECT pg_backend_pid() AS pid"))[0]["pid"] == pid
        # A connection that broke under the statement is dropped, not pooled.
        await _terminate(test_db.admin_url, pid)
        with pytest.raises(ConnectionError):  # answered as 503 database-unavailable by the kit
            await fetch_raw(engine, "SELECT 1")
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert (await fetch_raw(engine, "SELECT pg_backend_pid() AS pid"))[0]["pid"] != pid
    finally:
        await engine.dispose()


async def test_fetch_raw_inside_a_transaction_sees_its_writes(test_db: DatabaseUnderTest) -> None:
    engine = create_async_engine(test_db.role_urls["catalogue"])
    try:
        async with make_sessionmaker(engine)() as session:
            conn = await session.connection()
            await conn.execute(text("CREATE TEMP TABLE t_fetch_raw (n int) ON COMMIT DROP"))
            await conn.execute(text("INSERT INTO t_fetch_raw VALUES (1), (2)"))
            rows = await fetch_raw(session, "SELECT n FROM t_fetch_raw WHERE n >= $1 ORDER BY n", 1)
            assert [r["n"] for r in rows] == [1, 2]
            assert [r["n"] for r in await fetch_raw(conn, "SELECT n FROM t_fetch_raw")] == [1, 2]
            await session.rollback()
    finally:
        await engine.dispose()


def test_positional_numbers_named_parameters_and_leaves_casts_alone() -> None:
    sql = "SELECT CAST(:a AS int), :b::text, :ab FROM t WHERE x = :a"
    assert positional(sql, ("a", "b", "ab")) == "SELECT CAST($1 AS int), $2::text, $3 FROM t WHERE x = $1"


async def test_fetch_raw_with_a_connection_refused_at_checkout_is_a_connection_error(
    test_db: DatabaseUnderTest,
) -> None:
    """A checkout the server refuses is the kit's 503, not a 500. The server's refusal while it shuts
    down or starts up ("the database system is shutting down") reaches fetch_raw as the dialect's
    unwrapped error, the same path a refused login takes, which is what this test can cause at will."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = make_url(test_db.role_urls["catalogue"])
    for down in (url.set(host="127.0.0.1", port=port), url.set(password="not-the-password")):
        engine = create_async_engine(down, pool_size=1, max_overflow=0, pool_timeout=2)
        try:
            with pytest.raises(ConnectionError):
                await fetch_raw(engine, "SELECT 1")
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        finally:
            await engine.dispose()
