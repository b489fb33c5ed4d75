"""Use cases on assessment bodies."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.feed import emit
from services.kit.pages import Page, PageParams, make_page
from services.kit.problems import Conflict, NotFound

from .models import SCHEMA, Body
from .schemas import BodyCreate, BodyRead


class BodyNotFound(NotFound):
    type_ = "body-not-found"
    title = "Assessment body not found"


class DuplicateBody(Conflict):
    type_ = "duplicate-body"
    title = "A body with this credit code exists"


async def create_body(session: AsyncSession, *, data: BodyCreate) -> BodyRead:
    """Files a new assessment body (measure 一.1/一.2); one body per credit code."""
    if (await session.exec(select(Body).where(Body.uscc == data.uscc))).first() is not None:
        raise DuplicateBody(f"a body with credit code {data.uscc} already exists")
    body = Body(**data.model_dump())
    session.add(body)
    await session.flush()
    read = BodyRead.model_validate(body, from_attributes=True)
    await emit(session, SCHEMA, "assessment.body.filed", f"body:{body.id}", read.model_dump(mode="json"))
    await session.commit()
    return read


async def get_body(session: AsyncSession, *, principal: Principal, body_id: uuid.UUID) -> BodyRead:
    body = await session.get(Body, body_id)
    if body is None or not principal.owns_org(body.university_org):
        raise BodyNotFound()
    return BodyRead.model_validate(body, from_attributes=True)


async def list_bodies(session: AsyncSession, *, principal: Principal, page: PageParams,
                      university_org: str | None) -> Page[BodyRead]:
    stmt = select(Body).order_by(col(Body.id))
    if not principal.is_admin:
        university_org = principal.org
    if university_org:
        stmt = stmt.where(Body.university_org == university_org)
    if page.after is not None:
        stmt = stmt.where(col(Body.id) > uuid.UUID(str(page.after)))
    rows = (await session.exec(stmt.limit(page.limit + 1))).all()
    return make_page([BodyRead.model_validate(r, from_attributes=True) for r in rows], page, key=lambda b: str(b.id))
