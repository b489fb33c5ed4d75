"""``GET /v1/events``: the kernel's feed with one fix, until the kernel takes it.

Kernel gap: ``services.kit.feed.read_events`` binds the txid cursor as an int to
``CAST(:t AS text)``, which asyncpg refuses ("expected str, got int"), so the kernel's feed route
answers 500 on every call. This copy binds it as text; the semantics are the kernel's own
(served in (txid, id) order below ``pg_snapshot_xmin``, 410 past the kept history).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kit.auth import Principal, require_roles
from services.kit.db import SessionDep
from services.kit.feed import Event, EventPage, parse_cursor
from services.kit.problems import Gone

from .models import SCHEMA

_HORIZON = text(f"SELECT txid::text::bigint, id FROM {SCHEMA}.events_horizon WHERE singleton = 1")
_PAGE = text(
    f"SELECT txid::text::bigint AS txid, id, type, occurred_at, subject, data FROM {SCHEMA}.events "
    "WHERE (txid, id) > (CAST(CAST(:t AS text) AS xid8), :i) "
    "AND (txid < pg_snapshot_xmin(pg_current_snapshot()) OR txid = pg_current_xact_id_if_assigned()) "
    "ORDER BY txid, id LIMIT :n"
)


async def read_events(conn: AsyncConnection, after: str | None, limit: int) -> EventPage:
    cursor = parse_cursor(after)
    horizon = (await conn.execute(_HORIZON)).first()
    if horizon is not None:
        h = (int(horizon[0]), int(horizon[1]))
        if cursor is not None and cursor < h:
            raise Gone("The cursor is older than the kept history; re-list from the start and resume")
        cursor = cursor or h
    start = cursor or (0, 0)
    rows = (await conn.execute(_PAGE, {"t": str(start[0]), "i": start[1], "n": limit})).all()
    events = [
        Event(id=r.id, type=r.type, occurred_at=r.occurred_at, subject=r.subject, data=r.data) for r in rows
    ]
    last = (int(rows[-1].txid), int(rows[-1].id)) if rows else start
    return EventPage(events=events, next_cursor=f"{last[0]}-{last[1]}" if last != (0, 0) else after)


def feed_router(max_limit: int) -> APIRouter:
    router = APIRouter(tags=["feed"])

    @router.get("/v1/events", response_model=EventPage, summary="The change feed")
    async def events(
        session: SessionDep,
        _: Annotated[Principal, require_roles("platform", "service", "admin")],
        after: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1)] = 100,
    ) -> EventPage:
        return await read_events(await session.connection(), after, min(limit, max_limit))

    return router
