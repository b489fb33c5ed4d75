"""The credit bank's feed (``credit_bank.conversion.posted|reversed``), read with a durable cursor and
applied exactly once, like assessment's (see feed_sync): the base of the performance indicator
"credit-bank conversions" (policy 三.4). A conversion counts for the university whose programme it
was made in, on the Shanghai day it was posted; a reversal marks it reversed, never deletes it.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.credit_bank.events import CONVERSION_POSTED, CONVERSION_REVERSED, ConversionFacts

from .clients import CreditBankClient
from .feed_sync import SyncResult, claim_fresh, follow
from .models import CreditConversion

log = logging.getLogger("skillpass.incentives.conversions_feed")
FEED = "credit_bank"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TYPES = (CONVERSION_POSTED, CONVERSION_REVERSED)


def policy_date(event: dict[str, Any]) -> date:
    """The event's day in Asia/Shanghai (the policy's dates are Shanghai dates)."""
    when = datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
    return when.astimezone(SHANGHAI).date()


async def _posted(session: AsyncSession, event: dict[str, Any], facts: ConversionFacts) -> None:
    row = {
        "conversion_id": facts.conversion_id,
        "learner_id": facts.learner_id[:64],
        "university_org": facts.university_org,
        "occupation_code": facts.occupation_code,
        "level": facts.level,
        "credits": facts.credits,
        "posted_on": policy_date(event),
        "event_id": event["id"],
    }
    await session.execute(
        insert(CreditConversion).values(**row).on_conflict_do_nothing(index_elements=["conversion_id"])
    )


async def _reversed(session: AsyncSession, event: dict[str, Any], facts: ConversionFacts) -> None:
    # A reversal read before its posting (it cannot be, the feed is in commit order) would change nothing.
    await session.execute(
        update(CreditConversion)
        .where(CreditConversion.conversion_id == facts.conversion_id)  # type: ignore[arg-type]
        .where(CreditConversion.reversed_on.is_(None))  # type: ignore[union-attr]
        .values(reversed_on=policy_date(event))
    )


async def apply_page(session: AsyncSession, events: list[dict[str, Any]]) -> int:
    relevant = [e for e in events if e.get("type") in TYPES and isinstance(e.get("id"), int)]
    if not relevant:
        return 0
    fresh = await claim_fresh(session, FEED, [e["id"] for e in relevant])
    applied = 0
    for event in relevant:
        if event["id"] not in fresh:
            continue
        try:
            facts = ConversionFacts.model_validate(event.get("data") or {})
            await (_posted if event["type"] == CONVERSION_POSTED else _reversed)(session, event, facts)
        except (KeyError, TypeError, ValueError):
            log.warning("credit bank event %s has no usable conversion; skipped", event["id"])
            continue
        applied += 1
    await session.flush()
    return applied


async def sync_credit_bank_feed(
    session: AsyncSession, client: CreditBankClient, *, page_size: int = 500, max_pages: int = 1000
) -> SyncResult:
    """Follows the credit bank's feed from the stored cursor to its end, one committed page at a time."""
    return await follow(session, FEED, client, apply_page, page_size=page_size, max_pages=max_pages)
