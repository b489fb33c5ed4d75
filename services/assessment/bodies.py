"""Use cases on assessment bodies (measure 一.1 / 一.2: universities filed as assessment bodies)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.feed import emit
from services.kit.pages import Page, PageParams, cursor_key, make_page
from services.kit.problems import Conflict, NotFound

from .models import SCHEMA, Body, Filing
from .schemas import BodyCreate, BodyRead, FilingRead


class BodyNotFound(NotFound):
    type_ = "body-not-found"
    title = "Assessment body not found"


class DuplicateBody(Conflict):
    type_ = "duplicate-body"
    title = "A body with this credit code exists"


def body_read(body: Body, filings: list[Filing]) -> BodyRead:
    return BodyRead(
        id=body.id,
        sequence=int(body.sequence or 0),
        name=body.name,
        uscc=body.uscc,
        kind=body.kind,
        university_org=body.university_org,
        district=body.district,
        filings=[FilingRead.model_validate(f, from_attributes=True) for f in filings],
    )


async def create_body(session: AsyncSession, *, data: BodyCreate) -> BodyRead:
    """Files a new assessment body; one body per credit code; its sequence numbers its certificates."""
    if (await session.exec(select(Body).where(Body.uscc == data.uscc))).first() is not None:
        raise DuplicateBody(f"a body with credit code {data.uscc} already exists")
    body = Body(**data.model_dump())
    session.add(body)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request filed the same code between check and insert
        raise DuplicateBody(f"a body with credit code {data.uscc} already exists") from exc
    await session.refresh(body)
    read = body_read(body, [])
    await emit(session, SCHEMA, "assessment.body.filed", f"body:{body.id}", read.model_dump(mode="json"))
    await session.commit()
    return read


async def load_owned_body(
    session: AsyncSession, *, principal: Principal, body_id: uuid.UUID, lock: bool = False
) -> Body:
    """The body, if the principal is admin or its owning university; otherwise 404."""
    stmt = select(Body).where(Body.id == body_id)
    if lock:
        stmt = stmt.with_for_update()
    body = (await session.exec(stmt)).first()
    if body is None or not principal.owns_org(body.university_org):
        raise BodyNotFound()
    return body


async def get_body(session: AsyncSession, *, principal: Principal, body_id: uuid.UUID) -> BodyRead:
    body = await load_owned_body(session, principal=principal, body_id=body_id)
    filings = (
        await session.exec(select(Filing).where(Filing.body_id == body.id).order_by(col(Filing.valid_from)))
    ).all()
    return body_read(body, list(filings))


async def list_bodies(
    session: AsyncSession, *, principal: Principal, page: PageParams, university_org: str | None
) -> Page[BodyRead]:
    stmt = select(Body).order_by(col(Body.id))
    university_org = principal.org_scope(university_org)
    if university_org:
        stmt = stmt.where(Body.university_org == university_org)
    after = cursor_key(page, lambda c: uuid.UUID(str(c)))
    if after is not None:
        stmt = stmt.where(col(Body.id) > after)
    rows = list((await session.exec(stmt.limit(page.limit + 1))).all())
    by_body: dict[uuid.UUID, list[Filing]] = defaultdict(list)
    if rows:
        for filing in (
            await session.exec(
                select(Filing).where(col(Filing.body_id).in_([b.id for b in rows])).order_by(col(Filing.valid_from))
            )
        ).all():
            by_body[filing.body_id].append(filing)
    return make_page([body_read(b, by_body[b.id]) for b in rows], page, key=lambda b: str(b.id))
