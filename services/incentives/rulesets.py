"""Use cases on versioned rule sets."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.feed import emit
from services.kit.pages import Page, PageParams, cursor_key, make_page
from services.kit.problems import Conflict, NotFound

from .models import SCHEMA, RuleSet
from .schemas import RuleSetCreate, RuleSetRead

MAX_RULES_BYTES = 256 * 1024


class RuleSetNotFound(NotFound):
    type_ = "ruleset-not-found"
    title = "Rule set not found"


class RuleSetPublished(Conflict):
    type_ = "ruleset-published"
    title = "A published rule set cannot change"


def _read(r: RuleSet) -> RuleSetRead:
    return RuleSetRead.model_validate(r, from_attributes=True)


async def create_ruleset(session: AsyncSession, *, data: RuleSetCreate) -> RuleSetRead:
    """A new draft version of a scheme: rule values are data with their source noted."""
    from services.kit.problems import PayloadTooLarge

    if len(json.dumps(data.rules)) > MAX_RULES_BYTES:
        raise PayloadTooLarge("rules over 256 KiB")
    # Versions per scheme are allocated under a transaction-scoped advisory lock.
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("rulesets:" + data.scheme))))
    current = (await session.exec(select(func.max(RuleSet.version)).where(RuleSet.scheme == data.scheme))).one()
    ruleset = RuleSet(**data.model_dump(), version=(current or 0) + 1)
    session.add(ruleset)
    await session.flush()
    read = _read(ruleset)
    await emit(
        session,
        SCHEMA,
        "incentives.ruleset.created",
        f"ruleset:{ruleset.id}",
        {"id": str(ruleset.id), "scheme": ruleset.scheme, "version": ruleset.version},
    )
    await session.commit()
    return read


async def publish_ruleset(session: AsyncSession, *, ruleset_id: uuid.UUID) -> RuleSetRead:
    ruleset = await session.get(RuleSet, ruleset_id, with_for_update=True)
    if ruleset is None:
        raise RuleSetNotFound()
    if ruleset.status == "published":
        raise RuleSetPublished(f"rule set {ruleset_id} is already published")
    ruleset.status = "published"
    ruleset.published_at = datetime.now(UTC)
    session.add(ruleset)
    await session.flush()
    read = _read(ruleset)
    await emit(
        session,
        SCHEMA,
        "incentives.ruleset.published",
        f"ruleset:{ruleset.id}",
        {
            "id": str(ruleset.id),
            "scheme": ruleset.scheme,
            "version": ruleset.version,
            "effective_from": ruleset.effective_from.isoformat(),
        },
    )
    await session.commit()
    return read


async def list_rulesets(session: AsyncSession, *, page: PageParams, scheme: str | None) -> Page[RuleSetRead]:
    stmt = select(RuleSet).order_by(col(RuleSet.scheme), col(RuleSet.version))
    if scheme:
        stmt = stmt.where(RuleSet.scheme == scheme)
    after = cursor_key(page, lambda a: (str(a[0]), int(a[1])))
    if after is not None:
        s, v = after
        stmt = stmt.where((col(RuleSet.scheme) > s) | ((col(RuleSet.scheme) == s) & (col(RuleSet.version) > v)))
    rows = (await session.exec(stmt.limit(page.limit + 1))).all()
    return make_page([_read(r) for r in rows], page, key=lambda r: [r.scheme, r.version])


async def get_ruleset(session: AsyncSession, *, ruleset_id: uuid.UUID) -> RuleSetRead:
    ruleset = await session.get(RuleSet, ruleset_id)
    if ruleset is None:
        raise RuleSetNotFound()
    return _read(ruleset)
