"""The change feed: a transactional outbox per service, served in transaction order.

Why (txid, id) and not id alone: ids from a sequence become visible out of order when writers
commit at different times, so a reader that follows ids alone can step past an event that
commits late. Each event row records the id of the transaction that wrote it (``xid8``), and the
feed serves only rows whose transaction id is below the snapshot's ``xmin``: every transaction
below ``xmin`` has ended, and every later one gets a larger id, so the served prefix never grows
behind the cursor. Events of one transaction keep their insertion order; a change that depends
on an earlier one (revoke after issue) always has the larger transaction id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import base as postgresql_base
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import UserDefinedType
from sqlmodel.ext.asyncio.session import AsyncSession

from .auth import Principal, require_roles
from .db import Reader, ReaderDep, read_rows
from .problems import Gone, InvalidInput, field_error

_CURSOR = re.compile(r"^(\d{1,20})-(\d{1,20})$")


class XID8(UserDefinedType[int]):
    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "xid8"


# Reflection (alembic's autogenerate and the round-trip test) then knows the column type too.
postgresql_base.ischema_names.setdefault("xid8", XID8)


def outbox_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The ``events`` table and its one-row ``events_horizon`` (the last pruned cursor)."""
    # txid is declared before id: defaults are evaluated in column order, so the transaction
    # id is taken before the sequence value.
    events = Table(
        "events",
        metadata,
        Column("txid", XID8(), nullable=False, server_default=text("pg_current_xact_id()")),
        Column("id", BigInteger, Identity(always=False), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("subject", String(200), nullable=False),
        Column("data", JSONB, nullable=False),
        Index("ix_events_txid_id", "txid", "id"),
    )
    horizon = Table(
        "events_horizon",
        metadata,
        Column("singleton", BigInteger, primary_key=True, server_default=text("1")),
        Column("txid", XID8(), nullable=False),
        Column("id", BigInteger, nullable=False),
    )
    return events, horizon


class Event(BaseModel):
    id: int
    type: str
    occurred_at: datetime
    subject: str
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[Event]
    next_cursor: str | None


class FeedHead(BaseModel):
    cursor: str | None = Field(
        description="after the newest event a reader sees now (null: no event yet); "
        "every event committed later comes after it"
    )


async def emit(
    session: AsyncSession | AsyncConnection, schema: str, type_: str, subject: str, data: dict[str, Any]
) -> None:
    """Writes one event in the caller's transaction: it commits or rolls back with the change."""
    await emit_many(session, schema, [(type_, subject, data)])


async def emit_many(
    session: AsyncSession | AsyncConnection, schema: str, events: Sequence[tuple[str, str, dict[str, Any]]]
) -> None:
    if not events:
        return
    stmt = text(
        f"INSERT INTO {schema}.events (type, subject, data) "
        "SELECT * FROM unnest(CAST(:types AS text[]), CAST(:subjects AS text[]), CAST(:datas AS jsonb[]))"
    )
    await session.execute(
        stmt,
        {
            "types": [e[0] for e in events],
            "subjects": [e[1] for e in events],
            "datas": [json.dumps(e[2], default=str, ensure_ascii=False) for e in events],
        },
    )


def parse_cursor(after: str | None) -> tuple[int, int] | None:
    if after is None or after == "":
        return None
    m = _CURSOR.match(after)
    if not m:
        raise InvalidInput("Malformed feed cursor", errors=[field_error(["query", "after"], "expected a cursor")])
    return int(m.group(1)), int(m.group(2))


_HORIZON = "SELECT txid::text::bigint, id FROM {schema}.events_horizon WHERE singleton = 1"


def _start(after: str | None, horizon: Any) -> tuple[int, int]:
    """Where a page starts: the cursor, or the kept history's horizon (410 for a pruned cursor)."""
    cursor = parse_cursor(after)
    if horizon is not None:
        h = (int(horizon[0]), int(horizon[1]))
        if cursor is not None and cursor < h:
            raise Gone("The cursor is older than the kept history; re-list from the start and resume")
        if cursor is None:
            cursor = h
    return cursor or (0, 0)


def _page_sql(schema: str) -> str:
    """The page: after the cursor, in (transaction, id) order, never past a still-open transaction."""
    return (
        f"SELECT txid, id, type, occurred_at, subject, data FROM {schema}.events "
        "WHERE (txid, id) > (CAST(:t AS xid8), :i) "
        # The reader's own open transaction is the one exception: a use case (or a test) that
        # reads the feed inside its transaction sees what it wrote. Feed routes never write.
        "AND (txid < pg_snapshot_xmin(pg_current_snapshot()) OR txid = pg_current_xact_id_if_assigned()) "
        "ORDER BY txid, id LIMIT :n"
    )


async def read_events(session: AsyncSession | AsyncConnection, schema: str, after: str | None, limit: int) -> EventPage:
    """Events after the cursor, in (transaction, id) order, never past a still-open transaction."""
    horizon = (await session.execute(text(_HORIZON.format(schema=schema)))).first()
    start = _start(after, horizon)
    rows = (
        await session.execute(
            text(
                f"SELECT txid::text::bigint AS txid, id, type, occurred_at, subject, data FROM ({_page_sql(schema)}) p"
            ),
            {"t": start[0], "i": start[1], "n": limit},
        )
    ).all()
    events = [Event(id=r.id, type=r.type, occurred_at=r.occurred_at, subject=r.subject, data=r.data) for r in rows]
    last = (int(rows[-1].txid), int(rows[-1].id)) if rows else start
    next_cursor = f"{last[0]}-{last[1]}" if last != (0, 0) else after
    return EventPage(events=events, next_cursor=next_cursor)


async def read_events_json(session: Reader, schema: str, after: str | None, limit: int) -> bytes:
    """:func:`read_events` as the JSON of an ``EventPage``, built by PostgreSQL in one statement.

    The feed route's hot path (issue 15, B5): a page of 1,000 events went through asyncpg's JSON
    decoding, 1,000 pydantic models, the response model's validation and serialisation; here the
    database writes the JSON and the route passes the bytes on. Same page, same cursor.
    """
    horizon = await read_rows(session, text(_HORIZON.format(schema=schema)), {})
    start = _start(after, horizon[0] if horizon else None)
    row = (
        await read_rows(
            session,
            text(
                "SELECT coalesce(json_agg(json_build_object('id', p.id, 'type', p.type, 'occurred_at', "
                "to_char(p.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
                "'subject', p.subject, 'data', p.data) ORDER BY p.txid, p.id), '[]')::text, "
                "(array_agg(p.txid::text || '-' || p.id ORDER BY p.txid DESC, p.id DESC))[1] "
                f"FROM ({_page_sql(schema)}) p"
            ),
            {"t": start[0], "i": start[1], "n": limit},
        )
    )[0]
    events, last = str(row[0]), tuple(row)[1]
    next_cursor = last if last is not None else (f"{start[0]}-{start[1]}" if start != (0, 0) else after)
    return b'{"events":' + events.encode() + b',"next_cursor":' + json.dumps(next_cursor).encode() + b"}"


async def read_head(session: Reader, schema: str) -> str | None:
    """The cursor after the newest event the feed shows now: every transaction below the snapshot's
    xmin has ended, and any event not yet committed belongs to one at or above it, so it comes after
    this cursor. A reader that needs none of the events so far (a dispatcher with no subscriber)
    starts here instead of reading them all."""
    rows = await read_rows(
        session,
        text(
            f"SELECT txid::text::bigint, id FROM {schema}.events "
            "WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY txid DESC, id DESC LIMIT 1"
        ),
        {},
    )
    if not rows:
        return None
    txid, event_id = tuple(rows[0])
    return f"{txid}-{event_id}"


async def prune(conn: AsyncConnection, schema: str, older_than: datetime) -> int:
    """Drops events older than the given instant (only below xmin) and moves the horizon."""
    last = (
        await conn.execute(
            text(
                f"SELECT txid::text::bigint, id FROM {schema}.events WHERE occurred_at < :t "
                "AND txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY txid DESC, id DESC LIMIT 1"
            ),
            {"t": older_than},
        )
    ).first()
    if last is None:
        return 0
    res = await conn.execute(
        text(f"DELETE FROM {schema}.events WHERE (txid, id) <= (CAST(:t AS xid8), :i)"), {"t": last[0], "i": last[1]}
    )
    await conn.execute(
        text(
            f"INSERT INTO {schema}.events_horizon (singleton, txid, id) "
            "VALUES (1, CAST(:t AS xid8), :i) "
            "ON CONFLICT (singleton) DO UPDATE SET txid = excluded.txid, id = excluded.id"
        ),
        {"t": last[0], "i": last[1]},
    )
    return int(getattr(res, "rowcount", 0) or 0)


def feed_router(schema: str, *, max_limit: int = 1000) -> APIRouter:
    """``GET /v1/events`` for the platform and other services."""
    router = APIRouter(tags=["feed"])

    @router.get("/v1/events", response_model=EventPage, summary="The change feed")
    async def events(
        reader: ReaderDep,
        _: Annotated[Principal, require_roles("platform", "service", "admin")],
        after: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1)] = 100,
    ) -> Response:
        body = await read_events_json(reader, schema, after, min(limit, max_limit))
        return Response(body, media_type="application/json")

    @router.get("/v1/events/head", response_model=FeedHead, summary="Where the change feed ends now")
    async def events_head(
        reader: ReaderDep, _: Annotated[Principal, require_roles("platform", "service", "admin")]
    ) -> FeedHead:
        return FeedHead(cursor=await read_head(reader, schema))

    return router
