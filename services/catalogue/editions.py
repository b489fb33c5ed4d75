"""Catalogue editions: draft → published → superseded; publishing closes the previous edition.

Policy rule: the catalogue is revised in editions (动态调整); the edition in force on a date is the
one every decision of that date rests on, so a published edition is never edited again (also
enforced by a trigger on ``edition_entries``) and two editions are never in force on one day
(an exclusion constraint on the editions' date ranges).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.pages import Page, PageParams, make_page, newest_first_after, newest_first_key
from services.kit.problems import Conflict, InvalidInput, NotFound, field_error

from .events import (
    EDITION_CREATED,
    EDITION_PUBLISHED,
    EDITION_SUPERSEDED,
    EditionCreated,
    EditionPublished,
    EditionSuperseded,
)
from .industries import latest_version
from .models import SCHEMA, Edition, EditionEntry
from .schemas import EditionCreate, EditionRead
from .sql import emit_event, run


class EditionNotFound(NotFound):
    type_ = "edition-not-found"
    title = "Edition not found"


class EditionNotDraft(Conflict):
    type_ = "edition-not-draft"
    title = "Only a draft edition can be changed"


def edition_read(edition: Edition, entry_count: int) -> EditionRead:
    return EditionRead(entry_count=entry_count, **edition.model_dump())


async def _count(session: AsyncSession, edition_id: uuid.UUID) -> int:
    return int(
        (
            await session.exec(
                select(func.count()).select_from(EditionEntry).where(EditionEntry.edition_id == edition_id)
            )
        ).one()
    )


async def load_edition(session: AsyncSession, edition_id: uuid.UUID, *, for_update: bool = False) -> Edition:
    stmt = select(Edition).where(Edition.id == edition_id)
    if for_update:
        stmt = stmt.with_for_update()
    edition = (await session.exec(stmt)).first()
    if edition is None:
        raise EditionNotFound(f"no edition {edition_id}")
    return edition


async def load_draft(session: AsyncSession, edition_id: uuid.UUID) -> Edition:
    """The edition, locked against a concurrent publish, or 409 unless it is a draft."""
    edition = await load_edition(session, edition_id, for_update=True)
    if edition.status != "draft":
        raise EditionNotDraft(f"edition {edition_id} is {edition.status}; published editions are immutable")
    return edition


async def get_edition(session: AsyncSession, *, edition_id: uuid.UUID) -> EditionRead:
    edition = await load_edition(session, edition_id)
    return edition_read(edition, await _count(session, edition.id))


async def list_editions(session: AsyncSession, *, page: PageParams, status: str | None = None) -> Page[EditionRead]:
    """Newest first (by creation)."""
    counts = select(EditionEntry.edition_id, func.count().label("n")).group_by(col(EditionEntry.edition_id)).subquery()
    stmt = (
        select(Edition, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.edition_id == Edition.id)
        .order_by(col(Edition.created_at).desc(), col(Edition.id).desc())
    )
    if status:
        stmt = stmt.where(Edition.status == status)
    after = newest_first_after(page, col(Edition.created_at), col(Edition.id))
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.exec(stmt.limit(page.limit + 1))).all()
    items = [edition_read(e, int(n)) for e, n in rows]
    return make_page(items, page, key=lambda e: newest_first_key(e.created_at, e.id))


async def create_edition(session: AsyncSession, *, body: EditionCreate, classification: str, actor: str) -> EditionRead:
    """A new draft; ``based_on`` copies that edition's entries so a revision starts from it."""
    base = await load_edition(session, body.based_on) if body.based_on else None
    edition = Edition(
        title=body.title,
        classification=base.classification if base else classification,
        industry_version=await latest_version(session),
        based_on=body.based_on,
        created_by=actor,
    )
    session.add(edition)
    await session.flush()
    if base is not None:
        await run(
            session,
            text(
                f"INSERT INTO {SCHEMA}.edition_entries (id, edition_id, occupation_code, work_type, "
                "min_level, industries, shortage_level, reason, review_by) "
                "SELECT gen_random_uuid(), :new, occupation_code, "
                "work_type, min_level, industries, shortage_level, reason, review_by "
                f"FROM {SCHEMA}.edition_entries WHERE edition_id = :base"
            ),
            {"new": edition.id, "base": base.id},
        )
    count = await _count(session, edition.id)
    await emit_event(
        session,
        EDITION_CREATED,
        str(edition.id),
        EditionCreated(
            edition_id=str(edition.id),
            title=edition.title,
            based_on=str(base.id) if base else None,
            entry_count=count,
            by=actor,
        ).model_dump(mode="json"),
    )
    await session.commit()
    return edition_read(edition, count)


async def publish_edition(
    session: AsyncSession, *, edition_id: uuid.UUID, effective_from: date, actor: str
) -> EditionRead:
    """Publishes a draft from ``effective_from``; the edition in force before it ends the day before."""
    # One publisher at a time: the previous edition must be read after any other publish commits.
    await run(session, text("SELECT pg_advisory_xact_lock(hashtext('catalogue.edition.publish'))"))
    edition = await load_draft(session, edition_id)
    count = await _count(session, edition.id)
    if count == 0:
        raise InvalidInput(
            "An empty edition cannot be published",
            errors=[field_error(["path", "edition_id"], "the edition has no entries")],
        )
    previous = (
        await session.exec(
            select(Edition)
            .where(Edition.status != "draft")
            .order_by(col(Edition.effective_from).desc())
            .limit(1)
            .with_for_update()
        )
    ).first()
    if previous is not None and previous.effective_from is not None and effective_from <= previous.effective_from:
        raise InvalidInput(
            "effective_from must follow the current edition's start",
            errors=[
                field_error(
                    ["body", "effective_from"],
                    f"must be after {previous.effective_from} (edition {previous.id})",
                )
            ],
        )
    events: list[tuple[str, str, dict[str, Any]]] = []
    if previous is not None:
        previous.status = "superseded"
        previous.effective_to = effective_from - timedelta(days=1)
        session.add(previous)
        await session.flush()
        events.append(
            (
                EDITION_SUPERSEDED,
                str(previous.id),
                EditionSuperseded(
                    edition_id=str(previous.id),
                    effective_to=previous.effective_to,
                    superseded_by=str(edition.id),
                ).model_dump(mode="json"),
            )
        )
    edition.status, edition.effective_from = "published", effective_from
    edition.published_at, edition.published_by = datetime.now(UTC), actor
    session.add(edition)
    await session.flush()
    events.append(
        (
            EDITION_PUBLISHED,
            str(edition.id),
            EditionPublished(
                edition_id=str(edition.id),
                title=edition.title,
                effective_from=effective_from,
                entry_count=count,
                previous_edition_id=str(previous.id) if previous else None,
                by=actor,
            ).model_dump(mode="json"),
        )
    )
    for type_, subject, data in events:
        await emit_event(session, type_, subject, data)
    await session.commit()
    return edition_read(edition, count)
