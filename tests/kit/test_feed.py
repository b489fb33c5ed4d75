"""The change feed: every committed event exactly once, in order, even with late commits."""

import asyncio
import random
import uuid

import pytest
from sqlalchemy import text

from services.kit.feed import emit, prune, read_events, read_head
from services.kit.problems import Gone, InvalidInput

SCHEMA = "catalogue"


async def test_event_of_a_still_open_transaction_holds_back_later_ones(test_db):
    """A writer that took its id first but commits last must not be stepped over."""
    engine = test_db.engine(SCHEMA)
    run = uuid.uuid4().hex
    async with engine.connect() as reader:
        start = (await read_events(reader, SCHEMA, None, 100_000)).next_cursor
        await reader.rollback()
    async with engine.connect() as slow, engine.connect() as fast:
        await emit(slow, SCHEMA, "test.slow", run, {"run": run, "n": 1})
        await emit(fast, SCHEMA, "test.fast", run, {"run": run, "n": 2})
        await fast.commit()
        async with engine.connect() as reader:
            page = await read_events(reader, SCHEMA, start, 100)
            assert [e.data for e in page.events if e.subject == run] == []
            await reader.rollback()
        await slow.commit()
    async with engine.connect() as reader:
        page = await read_events(reader, SCHEMA, start, 100)
        assert [e.data["n"] for e in page.events if e.subject == run] == [1, 2]


async def test_concurrent_writers_with_staggered_commits_are_seen_exactly_once(test_db):
    engine = test_db.engine(SCHEMA)
    run = uuid.uuid4().hex
    writers, per_writer = 12, 15
    rnd = random.Random(7)
    async with engine.connect() as conn:
        cursor = (await read_events(conn, SCHEMA, None, 100_000)).next_cursor
        await conn.rollback()

    async def writer(w: int) -> None:
        for i in range(per_writer):
            async with engine.connect() as conn:
                await emit(conn, SCHEMA, "test.write", run, {"run": run, "w": w, "i": i})
                await asyncio.sleep(rnd.random() * 0.01)  # hold the transaction open a while
                if rnd.random() < 0.1:
                    await conn.rollback()  # rolled-back events must never appear
                    await emit(conn, SCHEMA, "test.write", run, {"run": run, "w": w, "i": i})
                await conn.commit()

    seen: list[tuple[int, int]] = []
    ids: list[int] = []
    done = asyncio.Event()

    async def reader() -> None:
        nonlocal cursor
        while True:
            finished = done.is_set()
            async with engine.connect() as conn:
                page = await read_events(conn, SCHEMA, cursor, 7)
                await conn.rollback()
            cursor = page.next_cursor
            ids.extend(e.id for e in page.events)
            seen.extend((e.data["w"], e.data["i"]) for e in page.events if e.subject == run)
            if finished and not page.events:
                return
            await asyncio.sleep(0.001)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    await reading
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert sorted(seen) == [(w, i) for w in range(writers) for i in range(per_writer)]
    for w in range(writers):  # each writer's events arrive in the order it committed them
        mine = [i for (ww, i) in seen if ww == w]
        assert mine == sorted(mine)


async def test_malformed_cursor_is_422(test_db):
    async with test_db.engine(SCHEMA).connect() as conn:
        with pytest.raises(InvalidInput) as err:
            await read_events(conn, SCHEMA, "12;drop", 10)
    assert err.value.errors == [{"loc": ["query", "after"], "msg": "expected a cursor"}]


async def test_cursor_before_pruned_history_is_gone(test_db):
    engine = test_db.engine(SCHEMA)
    async with engine.connect() as conn:
        await emit(conn, SCHEMA, "test.old", "prune", {})
        await conn.commit()
        first = (await read_events(conn, SCHEMA, None, 1)).next_cursor
        await conn.rollback()
        deleted = await prune(
            conn, SCHEMA, older_than=(await conn.execute(text("SELECT now() + interval '1 s'"))).scalar_one()
        )
        await conn.commit()
        assert deleted >= 1
        with pytest.raises(Gone):
            await read_events(conn, SCHEMA, "0-0" if first is None else "0-1", 10)
        # Re-listing from the start resumes at the horizon with no error.
        page = await read_events(conn, SCHEMA, None, 10)
        assert all(e.type != "test.old" for e in page.events)
        await conn.rollback()


async def test_the_head_is_after_every_committed_event_and_before_any_still_open(test_db):
    """``GET /v1/events/head``: a reader starting at the head misses nothing committed later, even
    by a transaction that was already open (and had written) when the head was read."""
    engine = test_db.engine(SCHEMA)
    run = uuid.uuid4().hex
    async with engine.connect() as conn:
        await emit(conn, SCHEMA, "test.before", run, {"n": 0})
        await conn.commit()
    async with engine.connect() as slow:
        await emit(slow, SCHEMA, "test.slow", run, {"n": 1})  # open while the head is read
        head = await read_head(engine, SCHEMA)
        assert head is not None
        await slow.commit()
    async with engine.connect() as conn:
        await emit(conn, SCHEMA, "test.after", run, {"n": 2})
        await conn.commit()
        page = await read_events(conn, SCHEMA, head, 100_000)
        # (Whether "before" is behind the head depends on every other open transaction of the
        # cluster, which holds xmin back; what must hold is that nothing after it is missed.)
        assert [e.data["n"] for e in page.events if e.subject == run][-2:] == [1, 2]
        await conn.rollback()
    # Reading the whole feed ends where the head now is.
    async with engine.connect() as conn:
        cursor = head
        while True:
            page = await read_events(conn, SCHEMA, cursor, 1000)
            cursor = page.next_cursor
            if len(page.events) < 1000:
                break
        await conn.rollback()
    assert await read_head(engine, SCHEMA) == cursor
