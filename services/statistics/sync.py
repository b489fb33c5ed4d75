"""Follows every source's change feed into the read model (the pattern of catalogue's feed_sync).

Per source: read a page from the stored cursor, apply it and move the cursor in one transaction,
repeat to the end. No transaction is held open across an HTTP call. A 410 (cursor older than the
kept history) re-lists from the start, which the guarded writes make harmless. A source that is
not configured, not reachable, or has no feed yet is reported and skipped, never fatal.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.background import repeat_forever
from services.kit.context import context_of
from services.kit.http import ServiceClient
from services.kit.problems import Problem, UpstreamUnavailable

from .apply import HANDLERS, Writes
from .deps import NAME, Context
from .models import SCHEMA

log = logging.getLogger("skillpass.statistics.sync")

_GET_CURSOR = text(f"SELECT cursor FROM {SCHEMA}.feed_cursors WHERE source = :source")
_SAVE_CURSOR = text(
    f"INSERT INTO {SCHEMA}.feed_cursors (source, cursor, events_applied, updated_at) "
    "VALUES (:source, :cursor, :n, now()) ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, "
    "events_applied = feed_cursors.events_applied + excluded.events_applied, updated_at = now()"
)


class SourceResult(BaseModel):
    source: str
    status: str  # synced | not_configured | unavailable
    pages: int = 0
    events: int = 0
    applied: int = 0
    cursor: str | None = None
    detail: str | None = None


async def _entries_for(client: ServiceClient, events: list[dict[str, Any]]) -> None:
    """A published edition's entries, read once from the catalogue (published editions never change)."""
    for event in events:
        if event.get("type") == "catalogue.edition.published":
            resp = await client.get(f"/v1/editions/{event['data']['edition_id']}/entries")
            if resp.status_code == 200:
                event["entries"] = resp.json()
            elif resp.status_code != 404:
                raise UpstreamUnavailable(f"catalogue answered {resp.status_code} for an edition's entries")


async def _apply_page(session: AsyncSession, source: str, events: list[dict[str, Any]]) -> int:
    handlers, applied, writes = HANDLERS.get(source, {}), 0, Writes()
    for event in events:
        handler = handlers.get(str(event.get("type")))
        if handler is not None and isinstance(event.get("id"), int):
            handler(writes, event)
            applied += 1
    await writes.flush(session)
    return applied


async def sync_source(
    session: AsyncSession, source: str, client: ServiceClient, *, page_size: int = 500, max_pages: int = 1000
) -> SourceResult:
    """Reads one source's feed from the stored cursor to its end, one committed page at a time."""
    cursor = (await session.execute(_GET_CURSOR, {"source": source})).scalar()
    await session.commit()
    result = SourceResult(source=source, status="synced", cursor=cursor)
    relisted = False
    while result.pages < max_pages:
        resp = await client.get("/v1/events", params={"limit": page_size, **({"after": cursor} if cursor else {})})
        if resp.status_code == 410 and not relisted:
            log.warning("%s feed cursor %s is past the kept history; re-listing", source, cursor)
            cursor, relisted = None, True
            continue
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"{source} feed answered {resp.status_code}")
        body = resp.json()
        events: list[dict[str, Any]] = body.get("events") or []
        if source == "catalogue":
            await _entries_for(client, events)
        applied = await _apply_page(session, source, events)
        next_cursor = body.get("next_cursor") or cursor
        await session.execute(_SAVE_CURSOR, {"source": source, "cursor": next_cursor, "n": applied})
        await session.commit()
        result.pages += 1
        result.events += len(events)
        result.applied += applied
        result.cursor = cursor = next_cursor
        if not events:
            break
    return result


async def sync_all(
    session: AsyncSession, clients: dict[str, ServiceClient | None], *, page_size: int = 500
) -> list[SourceResult]:
    """Every source in turn; one that is missing or down does not stop the others."""
    results = []
    for source in HANDLERS:
        client = clients.get(source)
        if client is None:
            results.append(SourceResult(source=source, status="not_configured"))
            continue
        try:
            results.append(await sync_source(session, source, client, page_size=page_size))
        except Problem as exc:
            await session.rollback()
            log.warning("%s feed not followed: %s", source, exc.detail)
            results.append(SourceResult(source=source, status="unavailable", detail=exc.detail))
    return results


async def poll_forever(app: FastAPI, interval_s: float) -> None:
    """The background follower of every source's feed."""

    async def tick() -> None:
        ctx = context_of(app, NAME, Context)
        async with app.state.sessionmaker() as session:
            await sync_all(session, ctx.sources, page_size=ctx.settings.feed_page_size)

    await repeat_forever(tick, interval_s, "statistics feed sync")
