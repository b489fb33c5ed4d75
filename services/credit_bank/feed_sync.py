"""Follows assessment's feed: a revoked certificate reverses each of its conversions exactly once; a
suspended one blocks new conversions (and is flagged on transcripts) until it is reinstated.

Each page is applied in one transaction together with the cursor and the ids of the events it
applied: a page read twice (delivered again, or the consumer killed before its commit) is skipped
event by event, and the ledger's unique (conversion, kind) makes a second reversal impossible anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment.events import CertificateRecord
from services.kit.background import repeat_forever
from services.kit.problems import UpstreamUnavailable

from .clients import AssessmentClient
from .conversions import reverse
from .ledger import lock_account
from .models import SCHEMA, Conversion, FeedCursor
from .sql import run

log = logging.getLogger("skillpass.credit_bank.feed_sync")
FEED = "assessment"
PREFIX = "assessment.certificate."
# event verb → the outcome status it leaves
STATUS_BY_VERB = {"revoked": "revoked", "suspended": "suspended", "reinstated": "valid"}

_CLAIM = text(f"""INSERT INTO {SCHEMA}.applied_feed_events (feed, event_id)
SELECT :feed, unnest(CAST(:ids AS bigint[])) ON CONFLICT DO NOTHING RETURNING event_id""")
_SAVE_CURSOR = text(f"""INSERT INTO {SCHEMA}.feed_cursors (feed, cursor, updated_at)
VALUES (:feed, :cursor, now())
ON CONFLICT (feed) DO UPDATE SET cursor = excluded.cursor, updated_at = now()""")
_SET_STATUS = text(
    f"UPDATE {SCHEMA}.outcomes SET status = :s, status_reason = :why WHERE certificate_number = :n "
    "AND status <> 'revoked' RETURNING id, learner_id"
)

# The accounts a page touches, locked at once in learner order — the order bulk conversions lock in,
# so the follower and a batch never wait on each other in a cycle.
_LOCK_HOLDERS = text(
    f"SELECT learner_id FROM {SCHEMA}.accounts WHERE learner_id IN (SELECT learner_id FROM {SCHEMA}.outcomes "
    "WHERE certificate_number = ANY(CAST(:ns AS varchar[]))) ORDER BY learner_id FOR UPDATE"
)


def _number(event: dict[str, Any]) -> str | None:
    try:
        return CertificateRecord.model_validate(event.get("data") or {}).number
    except ValidationError:
        return None


@dataclass
class SyncResult:
    pages: int = 0
    events: int = 0
    applied: int = 0
    reversed: int = 0
    cursor: str | None = None


async def apply_event(session: AsyncSession, event: dict[str, Any]) -> int:
    """One certificate status change; returns how many conversions it reversed."""
    verb = str(event.get("type", ""))[len(PREFIX) :]
    status = STATUS_BY_VERB.get(verb)
    try:
        certificate = CertificateRecord.model_validate(event.get("data") or {})
    except ValidationError:
        return 0
    if status is None:
        return 0
    number = certificate.number
    reason = (certificate.reason or verb)[:500]
    changed = (await run(session, _SET_STATUS, {"s": status, "why": reason, "n": number})).first()
    if changed is None or status != "revoked":
        return 0
    await lock_account(session, changed.learner_id)
    conversions = (
        await session.exec(select(Conversion).where(Conversion.outcome_id == changed.id, Conversion.status == "posted"))
    ).all()
    done = 0
    for conversion in conversions:
        entry = await reverse(session, conversion, reason=f"certificate {number} revoked: {reason}")
        done += entry is not None
    return done


async def apply_page(session: AsyncSession, events: list[dict[str, Any]]) -> tuple[int, int]:
    # An event delivered twice within one page counts once, like one delivered again on a later page.
    relevant = {
        e["id"]: e
        for e in events
        if str(e.get("type", "")).startswith(PREFIX)
        and str(e.get("type"))[len(PREFIX) :] in STATUS_BY_VERB
        and isinstance(e.get("id"), int)
    }
    if not relevant:
        return 0, 0
    fresh = {r.event_id for r in await run(session, _CLAIM, {"feed": FEED, "ids": list(relevant)})}
    numbers = sorted({n for i in fresh if (n := _number(relevant[i])) is not None})
    if numbers:
        await run(session, _LOCK_HOLDERS, {"ns": numbers})
    applied = reversed_ = 0
    for event_id, event in relevant.items():
        if event_id in fresh:
            applied += 1
            reversed_ += await apply_event(session, event)
    return applied, reversed_


async def sync_assessment_feed(
    session: AsyncSession, assessment: AssessmentClient, *, page_size: int = 500, max_pages: int = 1000
) -> SyncResult:
    """From the stored cursor to the feed's end, one committed page (cursor included) at a time."""
    row = await session.get(FeedCursor, FEED)
    cursor = row.cursor if row else None
    await session.commit()  # no transaction held open across the HTTP call
    result = SyncResult(cursor=cursor)
    relisted = False
    while result.pages < max_pages:
        status, body = await assessment.events(cursor, page_size)
        if status == 410:
            if relisted:
                raise UpstreamUnavailable("assessment feed answered 410 twice")
            # Re-listing from the start is safe: applied event ids are skipped.
            log.warning("assessment feed cursor %s is past the kept history; re-listing", cursor)
            cursor, relisted = None, True
            continue
        events: list[dict[str, Any]] = body.get("events") or []
        next_cursor = body.get("next_cursor") or cursor
        applied, reversed_ = await apply_page(session, events)
        await run(session, _SAVE_CURSOR, {"feed": FEED, "cursor": next_cursor})
        await session.commit()
        result.pages += 1
        result.events += len(events)
        result.applied += applied
        result.reversed += reversed_
        result.cursor = cursor = next_cursor
        if not events:
            break
    return result


async def poll_forever(app: FastAPI, assessment: AssessmentClient, interval_s: float, page_size: int) -> None:
    """The background follower of assessment's feed."""

    async def tick() -> None:
        async with app.state.sessionmaker() as session:
            await sync_assessment_feed(session, assessment, page_size=page_size)

    await repeat_forever(tick, interval_s, "assessment feed sync")
