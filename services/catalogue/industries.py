"""The industry taxonomy ("3+6" plus livelihood services), kept in versions that never change."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.problems import Conflict, InvalidInput, NotFound, field_error

from .models import Industry, IndustryTaxonomy
from .schemas import IndustryRead, IndustryTaxonomyCreate, IndustryTaxonomyRead
from .sql import emit_event


class TaxonomyNotFound(NotFound):
    type_ = "industry-taxonomy-not-found"
    title = "Industry taxonomy not found"


class TaxonomyExists(Conflict):
    type_ = "industry-taxonomy-exists"
    title = "Industry taxonomy version exists"


async def latest_version(session: AsyncSession) -> str:
    version = (
        await session.exec(
            select(IndustryTaxonomy.version)
            .order_by(col(IndustryTaxonomy.effective_from).desc(), col(IndustryTaxonomy.version).desc())
            .limit(1)
        )
    ).first()
    if version is None:
        raise TaxonomyNotFound("no industry taxonomy has been loaded yet")
    return version


async def get_taxonomy(session: AsyncSession, *, version: str | None = None) -> IndustryTaxonomyRead:
    """One version of the taxonomy (the newest by default), with the list of every version kept."""
    version = version or await latest_version(session)
    taxonomy = await session.get(IndustryTaxonomy, version)
    if taxonomy is None:
        raise TaxonomyNotFound(f"no industry taxonomy {version}")
    rows = (
        await session.exec(
            select(Industry).where(Industry.version == version).order_by(col(Industry.position), col(Industry.code))
        )
    ).all()
    versions = (
        await session.exec(select(IndustryTaxonomy.version).order_by(col(IndustryTaxonomy.effective_from).desc()))
    ).all()
    return IndustryTaxonomyRead(
        version=taxonomy.version,
        title=taxonomy.title,
        effective_from=taxonomy.effective_from,
        industries=[IndustryRead(code=r.code, name=r.name, group=r.group) for r in rows],
        versions=list(versions),
    )


async def publish_taxonomy(session: AsyncSession, *, body: IndustryTaxonomyCreate, actor: str) -> IndustryTaxonomyRead:
    """A new version; versions are never edited, so editions keep the tags they were built with."""
    if await session.get(IndustryTaxonomy, body.version) is not None:
        raise TaxonomyExists(f"industry taxonomy {body.version} exists; publish a new version")
    codes = [i.code for i in body.industries]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise InvalidInput(
            "Duplicate industry codes",
            errors=[field_error(["body", "industries", codes.index(c), "code"], "duplicate") for c in dupes],
        )
    session.add(IndustryTaxonomy(version=body.version, title=body.title, effective_from=body.effective_from))
    await session.flush()
    session.add_all(
        [
            Industry(version=body.version, code=i.code, name=i.name, group=i.group, position=n)
            for n, i in enumerate(body.industries)
        ]
    )
    await emit_event(
        session,
        "catalogue.industry_taxonomy.published",
        body.version,
        {"version": body.version, "codes": codes, "by": actor},
    )
    await session.commit()
    return await get_taxonomy(session, version=body.version)


async def unknown_industries(session: AsyncSession, *, version: str, codes: list[str]) -> list[str]:
    known = set(
        (
            await session.exec(select(Industry.code).where(Industry.version == version, col(Industry.code).in_(codes)))
        ).all()
    )
    return [c for c in codes if c not in known]
