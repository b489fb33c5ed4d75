"""Listing assessment records with their candidates (ID numbers masked unless the reader owns them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.pages import Page, PageParams, cursor_key, make_page
from services.kit.pii import Sealer

from .candidates import candidate_read
from .models import Candidate, Record
from .schemas import RecordRead


@dataclass(frozen=True)
class RecordFilters:
    learner_id: str | None = None
    body_id: uuid.UUID | None = None
    batch_id: uuid.UUID | None = None
    occupation_code: str | None = None
    passed: bool | None = None
    exam_date_from: date | None = None
    exam_date_to: date | None = None


async def list_records(
    session: AsyncSession, *, principal: Principal, filters: RecordFilters, page: PageParams, sealer: Sealer
) -> Page[RecordRead]:
    """A university sees its own bodies' records; platform and admin all (platform with masks)."""
    stmt = (
        select(Record, Candidate)
        .join(
            Candidate,
            (col(Candidate.learner_id) == col(Record.learner_id))
            & (col(Candidate.owner_org) == func.coalesce(col(Record.university_org), "")),
        )
        .order_by(col(Record.id))
    )
    scope = principal.org_scope(None)
    if scope is not None:
        stmt = stmt.where(Record.university_org == scope)
    for name in ("learner_id", "body_id", "batch_id", "occupation_code", "passed"):
        value = getattr(filters, name)
        if value is not None:
            stmt = stmt.where(getattr(Record, name) == value)
    if filters.exam_date_from is not None:
        stmt = stmt.where(col(Record.exam_date) >= filters.exam_date_from)
    if filters.exam_date_to is not None:
        stmt = stmt.where(col(Record.exam_date) <= filters.exam_date_to)
    after = cursor_key(page, lambda c: uuid.UUID(str(c)))
    if after is not None:
        stmt = stmt.where(col(Record.id) > after)
    items = [
        RecordRead.model_validate(
            {
                **record.model_dump(),
                "candidate": candidate_read(candidate, reveal=principal.owns_org(record.university_org), sealer=sealer),
            }
        )
        for record, candidate in (await session.exec(stmt.limit(page.limit + 1))).all()
    ]
    return make_page(items, page, key=lambda r: str(r.id))
