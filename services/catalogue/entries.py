"""Entries of an edition: edited only in drafts; read by edition or by the date in force."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.pages import Page, PageParams, cursor_key, make_page
from services.kit.problems import Conflict, InvalidInput, NotFound, field_error

from .editions import load_draft
from .industries import unknown_industries
from .models import Edition, EditionEntry, Occupation, WorkType
from .occupations import like_escape, resolve_code
from .schemas import EntryCreate, EntryRead, EntryUpdate
from .sql import emit_event


class EntryNotFound(NotFound):
    type_ = "entry-not-found"
    title = "Entry not found"


class EntryExists(Conflict):
    type_ = "entry-exists"
    title = "The edition already lists this occupation and work type"


class EntriesPage(Page[EntryRead]):
    as_of: date
    edition_id: uuid.UUID | None


def _entry_select(classification: str) -> Any:
    return select(EditionEntry, Occupation.name).outerjoin(
        Occupation,
        and_(
            col(Occupation.classification) == classification,
            col(Occupation.code) == col(EditionEntry.occupation_code),
        ),
    )


def entry_read(entry: EditionEntry, name: str | None) -> EntryRead:
    return EntryRead(occupation_name=name, **entry.model_dump())


async def entries_of(session: AsyncSession, edition_id: uuid.UUID, classification: str = "2022") -> list[EntryRead]:
    rows = (
        await session.exec(
            _entry_select(classification)
            .where(EditionEntry.edition_id == edition_id)
            .order_by(col(EditionEntry.occupation_code), col(EditionEntry.work_type))
        )
    ).all()
    return [entry_read(e, n) for e, n in rows]


def in_force(as_of: date) -> Any:
    return and_(
        col(Edition.status) != "draft",
        col(Edition.effective_from) <= as_of,
        or_(col(Edition.effective_to).is_(None), col(Edition.effective_to) >= as_of),
    )


async def edition_in_force(session: AsyncSession, as_of: date) -> Edition | None:
    return (await session.exec(select(Edition).where(in_force(as_of)))).first()


async def entries_as_of(
    session: AsyncSession,
    *,
    as_of: date,
    page: PageParams,
    industry: str | None = None,
    min_level: int | None = None,
    q: str | None = None,
) -> EntriesPage:
    """Entries of the edition in force on ``as_of``; ``min_level=L`` keeps the entries a level-L
    certificate satisfies (L <= the entry's minimum level, since 1 is the highest level)."""
    edition = await edition_in_force(session, as_of)
    if edition is None:
        return EntriesPage(items=[], next_cursor=None, as_of=as_of, edition_id=None)
    stmt = _entry_select(edition.classification).where(EditionEntry.edition_id == edition.id)
    if industry:
        stmt = stmt.where(col(EditionEntry.industries).any_() == industry)
    if min_level is not None:
        stmt = stmt.where(col(EditionEntry.min_level) >= min_level)
    if q:
        pattern = like_escape(q.strip())
        stmt = stmt.where(
            or_(
                col(EditionEntry.occupation_code).like(f"{pattern}%"),
                col(Occupation.name).like(f"%{pattern}%"),
            )
        )
    after = cursor_key(page, lambda c: (str(c[0]), uuid.UUID(c[1])))
    if after is not None:
        stmt = stmt.where(func.row(EditionEntry.occupation_code, EditionEntry.id) > func.row(*after))
    rows = (
        await session.exec(stmt.order_by(col(EditionEntry.occupation_code), col(EditionEntry.id)).limit(page.limit + 1))
    ).all()
    base = make_page([entry_read(e, n) for e, n in rows], page, key=lambda e: [e.occupation_code, str(e.id)])
    return EntriesPage(items=base.items, next_cursor=base.next_cursor, as_of=as_of, edition_id=edition.id)


async def _check_entry(
    session: AsyncSession, edition: Edition, *, code: str, work_type: str | None, industries: list[str] | None
) -> tuple[str, str | None]:
    """The resolved occupation code and its name; 422 naming each field that does not check out."""
    errors = []
    resolved, _ = await resolve_code(session, classification=edition.classification, code=code)
    name = (
        await session.exec(
            select(Occupation.name).where(
                Occupation.classification == edition.classification, Occupation.code == resolved
            )
        )
    ).first()
    if name is None:
        errors.append(field_error(["body", "occupation_code"], f"no occupation {code} in the classification"))
    elif work_type is not None:
        known = (
            await session.exec(
                select(WorkType.name).where(
                    WorkType.classification == edition.classification, WorkType.occupation_code == resolved
                )
            )
        ).all()
        if known and work_type not in known:
            errors.append(field_error(["body", "work_type"], f"not a work type of {resolved}: {', '.join(known)}"))
    for bad in await unknown_industries(session, version=edition.industry_version, codes=industries or []):
        errors.append(
            field_error(["body", "industries"], f"unknown industry {bad!r} in taxonomy {edition.industry_version}")
        )
    if errors:
        raise InvalidInput("The entry has invalid fields", errors=errors)
    return resolved, name


async def _ensure_unique(
    session: AsyncSession,
    edition_id: uuid.UUID,
    code: str,
    work_type: str | None,
    exclude: uuid.UUID | None = None,
) -> None:
    stmt = select(EditionEntry.id).where(
        EditionEntry.edition_id == edition_id,
        EditionEntry.occupation_code == code,
        func.coalesce(EditionEntry.work_type, "") == (work_type or ""),
    )
    if exclude is not None:
        stmt = stmt.where(EditionEntry.id != exclude)
    if (await session.exec(stmt)).first() is not None:
        raise EntryExists(f"edition {edition_id} already lists {code} {work_type or ''}".strip())


async def add_entry(
    session: AsyncSession, *, edition_id: uuid.UUID, body: EntryCreate, actor: str, commit: bool = True
) -> EntryRead:
    """Adds an occupation (an old code is stored as its current code) to a draft."""
    edition = await load_draft(session, edition_id)
    code, name = await _check_entry(
        session, edition, code=body.occupation_code, work_type=body.work_type, industries=body.industries
    )
    await _ensure_unique(session, edition.id, code, body.work_type)
    entry = EditionEntry(edition_id=edition.id, **{**body.model_dump(), "occupation_code": code})
    session.add(entry)
    await session.flush()
    read = entry_read(entry, name)
    await emit_event(session, "catalogue.entry.added", str(entry.id), {**read.model_dump(mode="json"), "by": actor})
    if commit:
        await session.commit()
    return read


async def _load_entry(session: AsyncSession, edition_id: uuid.UUID, entry_id: uuid.UUID) -> EditionEntry:
    entry = await session.get(EditionEntry, entry_id)
    if entry is None or entry.edition_id != edition_id:
        raise EntryNotFound(f"no entry {entry_id} in edition {edition_id}")
    return entry


async def update_entry(
    session: AsyncSession,
    *,
    edition_id: uuid.UUID,
    entry_id: uuid.UUID,
    body: EntryUpdate,
    actor: str,
    commit: bool = True,
) -> EntryRead:
    """Changes the given fields of an entry of a draft."""
    edition = await load_draft(session, edition_id)
    entry = await _load_entry(session, edition.id, entry_id)
    changes = body.model_dump(exclude_unset=True)
    for field in ("min_level", "industries", "shortage_level", "reason"):
        if field in changes and changes[field] is None:
            raise InvalidInput(
                "A required field cannot be cleared", errors=[field_error(["body", field], "may not be null")]
            )
    _, name = await _check_entry(
        session,
        edition,
        code=entry.occupation_code,
        work_type=changes.get("work_type", entry.work_type),
        industries=changes.get("industries"),
    )
    if "work_type" in changes:
        await _ensure_unique(session, edition.id, entry.occupation_code, changes["work_type"], exclude=entry.id)
    for field, value in changes.items():
        setattr(entry, field, value)
    session.add(entry)
    await session.flush()
    read = entry_read(entry, name)
    await emit_event(
        session,
        "catalogue.entry.changed",
        str(entry.id),
        {**read.model_dump(mode="json"), "fields": sorted(changes), "by": actor},
    )
    if commit:
        await session.commit()
    return read


async def remove_entry(
    session: AsyncSession, *, edition_id: uuid.UUID, entry_id: uuid.UUID, actor: str, commit: bool = True
) -> None:
    """Drops an entry from a draft."""
    edition = await load_draft(session, edition_id)
    entry = await _load_entry(session, edition.id, entry_id)
    await session.delete(entry)
    await session.flush()
    await emit_event(
        session,
        "catalogue.entry.removed",
        str(entry.id),
        {
            "edition_id": str(edition.id),
            "entry_id": str(entry.id),
            "occupation_code": entry.occupation_code,
            "work_type": entry.work_type,
            "by": actor,
        },
    )
    if commit:
        await session.commit()


async def find_entry(
    session: AsyncSession, *, edition_id: uuid.UUID, code: str, work_type: str | None
) -> EditionEntry | None:
    return (
        await session.exec(
            select(EditionEntry).where(
                EditionEntry.edition_id == edition_id,
                EditionEntry.occupation_code == code,
                func.coalesce(EditionEntry.work_type, "") == (work_type or ""),
            )
        )
    ).first()
