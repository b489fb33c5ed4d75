"""The supply signal: certificates issued (and revoked) per occupation, read from assessment's feed.

Each page is applied in one transaction together with the cursor; an event id already in
``applied_feed_events`` is skipped, so a page read twice (a crash before the commit, a 410 that
makes us re-list from the start) never counts twice. Certificates are counted in the quarter of
their ``issued_on``; a revocation is counted separately in the same quarter (net = issued − revoked).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment.events import CERTIFICATE_ISSUED, CERTIFICATE_REVOKED, CertificateFacts
from services.kit.background import repeat_forever
from services.kit.http import ServiceClient
from services.kit.problems import UpstreamUnavailable

from .models import SCHEMA, FeedCursor
from .schemas_adjust import SyncResult
from .settings import CatalogueSettings
from .sql import emit_event, run

log = logging.getLogger("skillpass.catalogue.feed_sync")
FEED = "assessment"
ISSUED, REVOKED = CERTIFICATE_ISSUED, CERTIFICATE_REVOKED

_CLAIM = text(f"""INSERT INTO {SCHEMA}.applied_feed_events (feed, event_id)
SELECT :feed, unnest(CAST(:ids AS bigint[])) ON CONFLICT DO NOTHING RETURNING event_id""")
_RESOLVE = text(f"""SELECT q.code AS asked, coalesce(a.code, q.code) AS code
FROM unnest(CAST(:codes AS varchar[])) q(code)
LEFT JOIN {SCHEMA}.occupation_aliases a ON a.old_code = q.code AND a.classification = :cls""")
_ADD = text(f"""INSERT INTO {SCHEMA}.certificate_supply AS s (occupation_code, period, level, issued, revoked)
SELECT * FROM unnest(CAST(:codes AS varchar[]), CAST(:periods AS varchar[]), CAST(:levels AS int[]),
                     CAST(:issued AS int[]), CAST(:revoked AS int[]))
ON CONFLICT (occupation_code, period, level)
DO UPDATE SET issued = s.issued + excluded.issued, revoked = s.revoked + excluded.revoked""")
_SAVE_CURSOR = text(f"""INSERT INTO {SCHEMA}.feed_cursors (feed, cursor, updated_at)
VALUES (:feed, :cursor, now())
ON CONFLICT (feed) DO UPDATE SET cursor = excluded.cursor, updated_at = now()""")


def quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def supply_key(event: dict[str, Any]) -> tuple[str, str, int] | None:
    """(occupation, period, level) an event counts for; None for an event that cannot be counted."""
    try:  # a pydantic ValidationError is a ValueError
        facts = CertificateFacts.model_validate(event.get("data") or {})
        when = facts.issued_on or date.fromisoformat(str(event.get("occurred_at", ""))[:10])
    except (TypeError, ValueError):
        return None
    return facts.occupation_code, quarter(when), facts.level


async def _apply_page(session: AsyncSession, events: list[dict[str, Any]], classification: str) -> tuple[int, int]:
    relevant = [e for e in events if e.get("type") in (ISSUED, REVOKED) and isinstance(e.get("id"), int)]
    if not relevant:
        return 0, 0
    fresh = {r.event_id for r in await run(session, _CLAIM, {"feed": FEED, "ids": [e["id"] for e in relevant]})}
    issued: Counter[tuple[str, str, int]] = Counter()
    revoked: Counter[tuple[str, str, int]] = Counter()
    skipped = 0
    for event in relevant:
        key = supply_key(event) if event["id"] in fresh else None
        if key is None:
            skipped += 1
            continue
        (issued if event["type"] == ISSUED else revoked)[key] += 1
    keys = sorted(set(issued) | set(revoked))
    if keys:
        codes = {
            r.asked: r.code
            for r in await run(session, _RESOLVE, {"codes": sorted({k[0] for k in keys}), "cls": classification})
        }
        await run(
            session,
            _ADD,
            {
                "codes": [codes[k[0]] for k in keys],
                "periods": [k[1] for k in keys],
                "levels": [k[2] for k in keys],
                "issued": [issued[k] for k in keys],
                "revoked": [revoked[k] for k in keys],
            },
        )
        await emit_event(
            session,
            "catalogue.certificate_supply.updated",
            FEED,
            {
                "issued": sum(issued.values()),
                "revoked": sum(revoked.values()),
                "occupations": sorted({codes[k[0]] for k in keys}),
            },
        )
    return len(relevant) - skipped, skipped


async def sync_assessment_feed(
    session: AsyncSession,
    client: ServiceClient,
    *,
    page_size: int = 500,
    max_pages: int = 1000,
    classification: str = "2022",
) -> SyncResult:
    """Follows assessment's feed from the stored cursor to its end, one committed page at a time."""
    cursor_row = await session.get(FeedCursor, FEED)
    cursor = cursor_row.cursor if cursor_row else None
    await session.commit()  # no transaction is held open across the HTTP call
    result = SyncResult(pages=0, events=0, applied=0, skipped=0, cursor=cursor)
    relisted = False
    while result.pages < max_pages:
        params = {"limit": page_size, **({"after": cursor} if cursor else {})}
        resp = await client.get("/v1/events", params=params)
        if resp.status_code == 410 and not relisted:
            log.warning("assessment feed cursor %s is past the kept history; re-listing", cursor)
            cursor, relisted = None, True
            continue
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"assessment feed answered {resp.status_code}")
        body = resp.json()
        events: list[dict[str, Any]] = body.get("events") or []
        next_cursor = body.get("next_cursor") or cursor
        applied, skipped = await _apply_page(session, events, classification)
        if next_cursor != cursor or cursor_row is None:
            await run(session, _SAVE_CURSOR, {"feed": FEED, "cursor": next_cursor})
            cursor_row = FeedCursor(feed=FEED)
        await session.commit()
        result.pages += 1
        result.events += len(events)
        result.applied += applied
        result.skipped += skipped
        result.cursor = cursor = next_cursor
        if not events:
            break
    return result


async def poll_forever(
    sessionmaker: async_sessionmaker[AsyncSession], client: ServiceClient, settings: CatalogueSettings
) -> None:
    """The background poller (assessment's feed into the catalogue's counts)."""

    async def tick() -> None:
        async with sessionmaker() as session:
            await sync_assessment_feed(
                session, client, page_size=settings.feed_page_size, classification=settings.classification
            )

    await repeat_forever(tick, settings.feed_poll_interval_s, "assessment feed sync")
