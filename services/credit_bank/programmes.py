"""Use cases on programmes."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.feed import emit
from services.kit.pages import Page, PageParams, cursor_key, make_page
from services.kit.problems import Conflict, NotFound

from .models import SCHEMA, Programme
from .schemas import ProgrammeCreate, ProgrammeRead


class ProgrammeNotFound(NotFound):
    type_ = "programme-not-found"
    title = "Programme not found"


class DuplicateProgramme(Conflict):
    type_ = "duplicate-programme"
    title = "The university already has a programme with this code"


async def create_programme(session: AsyncSession, *, principal: Principal, data: ProgrammeCreate) -> ProgrammeRead:
    """A university registers its own programmes; admin any university's (measure 三.4)."""
    principal.require_org(data.university_org)
    existing = await session.exec(
        select(Programme).where(Programme.university_org == data.university_org, Programme.code == data.code)
    )
    if existing.first() is not None:
        raise DuplicateProgramme(f"programme {data.code} exists")
    programme = Programme(**data.model_dump())
    session.add(programme)
    await session.flush()
    await session.refresh(programme)  # answer with the stored numeric scale, as every later read does
    read = ProgrammeRead.model_validate(programme, from_attributes=True)
    await emit(
        session, SCHEMA, "credit_bank.programme.created", f"programme:{programme.id}", read.model_dump(mode="json")
    )
    await session.commit()
    return read


async def get_programme(session: AsyncSession, *, principal: Principal, programme_id: uuid.UUID) -> ProgrammeRead:
    programme = await session.get(Programme, programme_id)
    if programme is None or not (principal.may_read_org(programme.university_org)):
        raise ProgrammeNotFound()
    return ProgrammeRead.model_validate(programme, from_attributes=True)


async def list_programmes(
    session: AsyncSession, *, principal: Principal, page: PageParams, university_org: str | None
) -> Page[ProgrammeRead]:
    stmt = select(Programme).order_by(col(Programme.id))
    university_org = principal.org_scope(university_org)
    if university_org:
        stmt = stmt.where(Programme.university_org == university_org)
    after = cursor_key(page, lambda a: uuid.UUID(str(a)))
    if after is not None:
        stmt = stmt.where(col(Programme.id) > after)
    rows = (await session.exec(stmt.limit(page.limit + 1))).all()
    return make_page(
        [ProgrammeRead.model_validate(r, from_attributes=True) for r in rows], page, key=lambda p: str(p.id)
    )
