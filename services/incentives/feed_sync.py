"""Assessment's feed, read with a durable cursor and applied exactly once.

Each page is applied in one transaction together with the cursor; an event id already in
``applied_feed_events`` is skipped, so a page read twice never acts twice. Certificates are kept
as facts for university performance; status changes act on subsidy claims (DOMAIN.md §6):
a revoked certificate cancels a pending (or held) claim and flags an approved one for recovery;
a suspended one holds a pending claim; a reinstated one releases a held claim. Filed bodies are
kept for their district and university (district funding).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI
from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment.events import CertificateRecord
from services.kit.background import repeat_forever
from services.kit.feed import emit_many
from services.kit.problems import UpstreamUnavailable

from .clients import AssessmentClient
from .models import SCHEMA, AssessmentBody, CertificateFact, FeedCursor, SubsidyClaim

log = logging.getLogger("skillpass.incentives.feed_sync")
FEED = "assessment"
PREFIX = "assessment.certificate."
BODY_FILED = "assessment.body.filed"
_CLAIM = text(f"""INSERT INTO {SCHEMA}.applied_feed_events (feed, event_id)
SELECT :feed, unnest(CAST(:ids AS bigint[])) ON CONFLICT DO NOTHING RETURNING event_id""")
# verb → {claim status before: (status after, recovery flag, our event verb)}
CLAIM_EFFECTS: dict[str, dict[str, tuple[str, bool, str]]] = {
    "revoked": {
        "pending": ("cancelled", False, "cancelled"),
        "held": ("cancelled", False, "cancelled"),
        "approved": ("approved", True, "recovery_due"),
    },
    "suspended": {"pending": ("held", False, "held")},
    "reinstated": {"held": ("pending", False, "released")},
}


@dataclass
class SyncResult:
    pages: int = 0
    events: int = 0
    applied: int = 0
    cursor: str | None = None


def _fact(data: dict[str, Any]) -> dict[str, Any]:
    """The certificate's row; a ValueError (a pydantic ValidationError is one) if the event lacks a part of it."""
    c = CertificateRecord.model_validate(data)
    if c.learner_id is None or c.occupation_code is None or c.level is None or c.issued_on is None:
        raise ValueError("the event does not carry the whole certificate")
    return {
        "number": c.number,
        "learner_id": c.learner_id,
        "university_org": c.university_org,
        "body_kind": c.number[:1],
        "occupation_code": c.occupation_code,
        "level": c.level,
        "issued_on": c.issued_on,
        "in_catalogue": bool(c.in_catalogue_on_issue),
        "status": c.status or "valid",
        "graduation_year": c.graduation_year,
        "school_org": c.school_org,
    }


async def _apply_claims(session: AsyncSession, number: str, verb: str) -> list[tuple[str, str, dict[str, Any]]]:
    effects = CLAIM_EFFECTS.get(verb, {})
    if not effects:
        return []
    rows = (
        await session.exec(
            select(SubsidyClaim)
            .where(SubsidyClaim.certificate_number == number, col(SubsidyClaim.status).in_(list(effects)))
            .with_for_update()
        )
    ).all()
    out = []
    for row in rows:
        if row.recovery_due and verb == "revoked" and row.status == "approved":
            continue
        status, recovery, our_verb = effects[row.status]
        row.status, row.recovery_due = status, row.recovery_due or recovery
        session.add(row)
        out.append(
            (
                f"incentives.subsidy_claim.{our_verb}",
                f"subsidy_claim:{row.id}",
                {
                    "claim_id": str(row.id),
                    "certificate_number": number,
                    "status": status,
                    "recovery_due": row.recovery_due,
                },
            )
        )
    return out


async def _apply_body(session: AsyncSession, event: dict[str, Any]) -> bool:
    data = event.get("data") or {}
    if not data.get("id") or not data.get("district"):
        log.warning("assessment event %s has no usable body; skipped", event["id"])
        return False
    row = {
        "body_id": str(data["id"]),
        "kind": str(data.get("kind") or "unknown")[:10],
        "district": str(data["district"])[:50],
        "university_org": data.get("university_org"),
        "event_id": event["id"],
    }
    stmt = insert(AssessmentBody).values(**row)
    excluded = stmt.excluded
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["body_id"],
            set_={k: excluded[k] for k in ("kind", "district", "university_org", "event_id")},
            where=AssessmentBody.__table__.c.event_id < excluded.event_id,  # type: ignore[attr-defined]
        )
    )
    return True


def _relevant(event: dict[str, Any]) -> bool:
    kind = str(event.get("type", ""))
    return (kind.startswith(PREFIX) or kind == BODY_FILED) and isinstance(event.get("id"), int)


async def apply_page(session: AsyncSession, events: list[dict[str, Any]]) -> int:
    relevant = [e for e in events if _relevant(e)]
    if not relevant:
        return 0
    fresh = await claim_fresh(session, FEED, [e["id"] for e in relevant])
    ours: list[tuple[str, str, dict[str, Any]]] = []
    applied = 0
    for event in relevant:
        if event["id"] not in fresh:
            continue
        if event["type"] == BODY_FILED:
            applied += await _apply_body(session, event)
            continue
        verb, data = str(event["type"])[len(PREFIX) :], event.get("data") or {}
        try:
            fact = _fact(data)
        except (KeyError, TypeError, ValueError):
            log.warning("assessment event %s has no usable certificate; skipped", event["id"])
            continue
        stmt = insert(CertificateFact).values(**fact)
        table = CertificateFact.__table__.c  # type: ignore[attr-defined]
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["number"],
                set_={
                    "status": fact["status"],
                    # an event from before assessment published them does not erase what a later one said
                    "graduation_year": func.coalesce(stmt.excluded.graduation_year, table.graduation_year),
                    "school_org": func.coalesce(stmt.excluded.school_org, table.school_org),
                },
            )
        )
        ours += await _apply_claims(session, fact["number"], verb)
        applied += 1
    await session.flush()
    await emit_many(session, SCHEMA, ours)
    return applied


async def claim_fresh(session: AsyncSession, feed: str, ids: list[int]) -> set[int]:
    """Marks the event ids of ``feed`` applied in this transaction; answers those not applied before."""
    return {r.event_id for r in (await session.execute(_CLAIM, {"feed": feed, "ids": ids}))}


class FeedSource(Protocol):
    async def events(self, after: str | None, limit: int) -> tuple[int, dict[str, Any]]: ...


async def follow(
    session: AsyncSession,
    feed: str,
    source: FeedSource,
    apply: Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[int]],
    *,
    page_size: int = 500,
    max_pages: int = 1000,
) -> SyncResult:
    """Follows ``feed`` from the stored cursor to its end, each page applied and its cursor stored
    in one committed transaction."""
    row = await session.get(FeedCursor, feed)
    cursor = row.cursor if row else None
    await session.commit()  # no transaction is held open across the HTTP call
    result = SyncResult(cursor=cursor)
    relisted = False
    while result.pages < max_pages:
        status, body = await source.events(cursor, page_size)
        if status == 410 and not relisted:
            log.warning("%s feed cursor %s is past the kept history; re-listing", feed, cursor)
            cursor, relisted = None, True
            continue
        if status != 200:
            raise UpstreamUnavailable(f"{feed} feed answered {status}")
        events: list[dict[str, Any]] = body.get("events") or []
        next_cursor = body.get("next_cursor") or cursor
        result.applied += await apply(session, events)
        stored = await session.get(FeedCursor, feed)
        if stored is None:
            session.add(FeedCursor(feed=feed, cursor=next_cursor))
        else:
            stored.cursor = next_cursor
            session.add(stored)
        await session.commit()
        result.pages += 1
        result.events += len(events)
        result.cursor = cursor = next_cursor
        if not events:
            break
    return result


async def sync_assessment_feed(
    session: AsyncSession, client: AssessmentClient, *, page_size: int = 500, max_pages: int = 1000
) -> SyncResult:
    """Follows assessment's feed from the stored cursor to its end, one committed page at a time."""
    return await follow(session, FEED, client, apply_page, page_size=page_size, max_pages=max_pages)


async def poll_forever(
    app: FastAPI,
    sync: Callable[[AsyncSession], Awaitable[SyncResult]],
    interval_s: float,
    what: str,
) -> None:
    """A background follower of one feed (``sync`` reads it to its end in a session)."""

    async def tick() -> None:
        async with app.state.sessionmaker() as session:
            await sync(session)

    await repeat_forever(tick, interval_s, what)
