"""Use cases on the occupation classification: search, detail and alias resolution."""

from __future__ import annotations

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.pages import Page, PageParams, make_page
from services.kit.problems import NotFound

from .models import Occupation, OccupationAlias, OccupationGroup, WorkType
from .schemas import AliasRead, OccupationDetail, OccupationRead


class OccupationNotFound(NotFound):
    type_ = "occupation-not-found"
    title = "Occupation not found"


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def group_codes(code: str) -> tuple[str, str, str]:
    """``2-02-38-01`` → major ``2``, middle ``2-02``, minor ``2-02-38``."""
    return code[:1], code[:4], code[:7]


async def resolve_code(session: AsyncSession, *, classification: str, code: str) -> tuple[str, str | None]:
    """The code in ``classification``; an old code is followed through the alias table once."""
    exists = (
        await session.exec(
            select(Occupation.code).where(Occupation.classification == classification, Occupation.code == code)
        )
    ).first()
    if exists is not None:
        return code, None
    alias = (
        await session.exec(
            select(OccupationAlias.code).where(
                OccupationAlias.old_code == code, OccupationAlias.classification == classification
            )
        )
    ).first()
    if alias is not None:
        return alias, code
    return code, None


async def list_occupations(
    session: AsyncSession,
    *,
    classification: str,
    page: PageParams,
    q: str | None = None,
    major: str | None = None,
) -> Page[OccupationRead]:
    """The classification in code order; ``q`` matches a code prefix or a substring of the name
    (both served by indexes: ``varchar_pattern_ops`` on code, trigram GIN on name)."""
    stmt = select(Occupation).where(Occupation.classification == classification).order_by(col(Occupation.code))
    if q:
        pattern = like_escape(q.strip())
        stmt = stmt.where(or_(col(Occupation.code).like(f"{pattern}%"), col(Occupation.name).like(f"%{pattern}%")))
    if major:
        stmt = stmt.where(Occupation.major == major)
    if page.after is not None:
        stmt = stmt.where(col(Occupation.code) > str(page.after))
    rows = (await session.exec(stmt.limit(page.limit + 1))).all()
    items = [OccupationRead.model_validate(r, from_attributes=True) for r in rows]
    return make_page(items, page, key=lambda o: o.code)


async def get_occupation(session: AsyncSession, *, classification: str, code: str) -> OccupationDetail:
    """One occupation with its groups' names, work types and the old codes that now mean it."""
    resolved, resolved_from = await resolve_code(session, classification=classification, code=code)
    row = (
        await session.exec(
            select(Occupation).where(Occupation.classification == classification, Occupation.code == resolved)
        )
    ).first()
    if row is None:
        raise OccupationNotFound(f"no occupation {code} in classification {classification}")
    groups = {
        g.code: g.name
        for g in (
            await session.exec(
                select(OccupationGroup).where(
                    OccupationGroup.classification == classification,
                    col(OccupationGroup.code).in_(group_codes(resolved)),
                )
            )
        ).all()
    }
    work_types = (
        await session.exec(
            select(WorkType.name)
            .where(WorkType.classification == classification, WorkType.occupation_code == resolved)
            .order_by(col(WorkType.name))
        )
    ).all()
    aliases = (
        await session.exec(
            select(OccupationAlias)
            .where(OccupationAlias.classification == classification, OccupationAlias.code == resolved)
            .order_by(col(OccupationAlias.old_code))
        )
    ).all()
    return OccupationDetail(
        **OccupationRead.model_validate(row, from_attributes=True).model_dump(),
        major_name=groups.get(row.major),
        middle_name=groups.get(row.middle),
        minor_name=groups.get(row.minor),
        work_types=list(work_types),
        aliases=[AliasRead(old_classification=a.old_classification, old_code=a.old_code) for a in aliases],
        resolved_from=resolved_from,
    )
