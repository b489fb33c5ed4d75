"""District funding (policy 一.四, 工作经费资助、培养成效补贴): a district funds the universities in it
that organise their students' assessments, under its ``district_funding`` rule set.

Per university and calendar year of issue (revoked certificates excluded): a work allowance per
student assessed (distinct learners certified) and a results bonus per certificate, with extras
for catalogue occupations and for levels ``high_level_max`` and above (1 is the highest), capped
per university. The inputs are this service's facts from assessment's feed, never the request:
``certificate_facts`` and, for a university's district, ``assessment_bodies`` (its employer body's
district; a social body naming it if it has none; the earliest filed of either). Amounts are
``Decimal`` yuan to the fen.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.feed import emit
from services.kit.problems import NotFound

from .models import SCHEMA, DistrictFundingCalculation, RuleSet
from .rulesets import NoRuleSetInForce
from .schemas import DistrictFundingIn, DistrictFundingLine, DistrictFundingRead

SCHEME = "district_funding"
DEFAULT_DISTRICT = "*"
FEN = Decimal("0.01")
_COUNTS = text(f"""
WITH uni AS (
    SELECT DISTINCT ON (university_org) university_org, district
    FROM {SCHEMA}.assessment_bodies
    WHERE university_org IS NOT NULL
    ORDER BY university_org, (kind = 'employer') DESC, event_id
)
SELECT f.university_org,
       count(DISTINCT f.learner_id) AS students_assessed,
       count(*) AS certificates,
       count(*) FILTER (WHERE f.in_catalogue) AS catalogue_certificates,
       count(*) FILTER (WHERE f.level <= :high_level_max) AS high_level_certificates
FROM {SCHEMA}.certificate_facts f JOIN uni ON uni.university_org = f.university_org
WHERE uni.district = :district AND f.status <> 'revoked' AND f.issued_on >= :from AND f.issued_on <= :to
GROUP BY f.university_org
ORDER BY f.university_org""")


class CalculationNotFound(NotFound):
    type_ = "district-funding-calculation-not-found"
    title = "District funding calculation not found"


@dataclass(frozen=True)
class Counts:
    university_org: str
    students_assessed: int
    certificates: int
    catalogue_certificates: int
    high_level_certificates: int


def _yuan(value: Any) -> Decimal:
    return Decimal(str(value or "0"))


def funding_line(rules: dict[str, Any], c: Counts) -> DistrictFundingLine:
    """One university's line: allowance + bonus, then the cap (exact Decimal, to the fen)."""
    bonus = rules["results_bonus"]
    allowance = (_yuan(rules["work_allowance_per_student"]) * c.students_assessed).quantize(FEN)
    results = (
        _yuan(bonus["per_certificate"]) * c.certificates
        + _yuan(bonus.get("catalogue_extra")) * c.catalogue_certificates
        + _yuan(bonus.get("high_level_extra")) * c.high_level_certificates
    ).quantize(FEN)
    uncapped = allowance + results
    cap = _yuan(rules["cap_per_university"]).quantize(FEN)
    return DistrictFundingLine(
        **c.__dict__,
        work_allowance=allowance,
        results_bonus=results,
        uncapped=uncapped,
        cap=cap,
        capped=uncapped > cap,
        amount=min(uncapped, cap),
    )


async def ruleset_for(session: AsyncSession, *, district: str, on: date) -> RuleSet:
    """The district's own rule set in force on ``on``; failing that, the default (``*``) in force."""
    named = RuleSet.rules["district"].astext
    stmt = (
        select(RuleSet)
        .where(
            RuleSet.scheme == SCHEME,
            RuleSet.status == "published",
            col(RuleSet.effective_from) <= on,
            named.in_([district, DEFAULT_DISTRICT]),
        )
        .order_by(
            case((named == district, 0), else_=1),
            col(RuleSet.effective_from).desc(),
            col(RuleSet.version).desc(),
        )
        .limit(1)
    )
    ruleset = (await session.exec(stmt)).first()
    if ruleset is None:
        raise NoRuleSetInForce(f"no published {SCHEME} rule set for {district} is in force on {on.isoformat()}")
    return ruleset


def _read(row: DistrictFundingCalculation, ruleset_district: str) -> DistrictFundingRead:
    return DistrictFundingRead(
        id=row.id,
        district=row.district,
        year=row.year,
        ruleset_id=row.ruleset_id,
        ruleset_version=row.ruleset_version,
        ruleset_district=ruleset_district,
        total=row.total,
        lines=[DistrictFundingLine.model_validate(line) for line in row.lines],
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def calculate(session: AsyncSession, *, principal: Principal, data: DistrictFundingIn) -> DistrictFundingRead:
    """Computes and stores one calculation (append-only) under the rule set in force on 31 December."""
    ruleset = await ruleset_for(session, district=data.district, on=date(data.year, 12, 31))
    rules = ruleset.rules
    params = {
        "district": data.district,
        "from": date(data.year, 1, 1),
        "to": date(data.year, 12, 31),
        "high_level_max": int(rules["results_bonus"].get("high_level_max", 3)),
    }
    counts = [Counts(**r._mapping) for r in await session.execute(_COUNTS, params)]
    lines = [funding_line(rules, c) for c in counts]
    row = DistrictFundingCalculation(
        district=data.district,
        year=data.year,
        ruleset_id=ruleset.id,
        ruleset_version=ruleset.version,
        total=sum((line.amount for line in lines), Decimal("0.00")),
        lines=[line.model_dump(mode="json") for line in lines],
        created_by=principal.sub,
        created_at=datetime.now(UTC),  # the wall clock, not the transaction's: re-runs order newest first
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    read = _read(row, str(rules["district"]))
    await emit(
        session,
        SCHEMA,
        "incentives.district_funding.calculated",
        f"district_funding:{row.id}",
        read.model_dump(mode="json"),
    )
    await session.commit()
    return read


async def _with_districts(session: AsyncSession, rows: list[DistrictFundingCalculation]) -> list[DistrictFundingRead]:
    ids = {r.ruleset_id for r in rows}
    named = {}
    if ids:
        found = (await session.exec(select(RuleSet).where(col(RuleSet.id).in_(ids)))).all()
        named = {r.id: str(r.rules.get("district", "")) for r in found}
    return [_read(r, named.get(r.ruleset_id, "")) for r in rows]


async def list_calculations(
    session: AsyncSession, *, district: str | None, year: int | None
) -> list[DistrictFundingRead]:
    stmt = select(DistrictFundingCalculation).order_by(
        col(DistrictFundingCalculation.created_at).desc(), col(DistrictFundingCalculation.id)
    )
    if district is not None:
        stmt = stmt.where(DistrictFundingCalculation.district == district)
    if year is not None:
        stmt = stmt.where(DistrictFundingCalculation.year == year)
    return await _with_districts(session, list((await session.exec(stmt.limit(500))).all()))


async def get_calculation(session: AsyncSession, *, calculation_id: uuid.UUID) -> DistrictFundingRead:
    row = await session.get(DistrictFundingCalculation, calculation_id)
    if row is None:
        raise CalculationNotFound()
    return (await _with_districts(session, [row]))[0]
