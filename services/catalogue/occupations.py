"""Use cases on the occupation classification."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.pages import Page, PageParams, make_page
from services.kit.problems import NotFound

from .models import Occupation
from .schemas import OccupationRead


class OccupationNotFound(NotFound):
    type_ = "occupation-not-found"
    title = "Occupation not found"


async def list_occupations(session: AsyncSession, *, page: PageParams, q: str | None = None,
                           major: str | None = None) -> Page[OccupationRead]:
    """The classification, filtered by code prefix or name substring, in code order."""
    stmt = select(Occupation).order_by(col(Occupation.code))
    if q:
        stmt = stmt.where(col(Occupation.code).startswith(q) | col(Occupation.name).contains(q))
    if major:
        stmt = stmt.where(Occupation.major == major)
    if page.after is not None:
        stmt = stmt.where(col(Occupation.code) > str(page.after))
    rows = (await session.exec(stmt.limit(page.limit + 1))).all()
    items = [OccupationRead.model_validate(r, from_attributes=True) for r in rows]
    return make_page(items, page, key=lambda o: o.code)


async def get_occupation(session: AsyncSession, *, code: str) -> OccupationRead:
    row = (await session.exec(select(Occupation).where(Occupation.code == code))).first()
    if row is None:
        raise OccupationNotFound(f"no occupation {code}")
    return OccupationRead.model_validate(row, from_attributes=True)
