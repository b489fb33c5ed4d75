"""University performance (policy 三.1, DOMAIN.md §3): indicators per university and year, a
weighted score per the ``university_performance`` rule set, a ranking, and budget allocations.

Every indicator of DOMAIN.md §3, from data this service holds or asks for, never another schema:

- ``graduates_certified_share``: the university's students graduating in the year who hold a
  certificate (assessment's feed: the record's ``graduation_year`` and ``school_org``) over its
  graduating-student count, which the bureau enters in statistics (``GET /v1/graduates``, asked
  with this service's token). No count entered: the value is null and ``missing`` says why.
- ``certified_learners`` (a count, kept for older rule sets), ``high_skill_share`` (level 3+),
  ``catalogue_certificates``, ``industry_3_6_certificates`` (occupations the rule set lists as
  "3+6" industries — data, with its source), ``employer_assessments`` / ``social_assessments``
  (number letter Y / S): certificates issued in the calendar year by the university's bodies.
- ``credit_conversions``: the credit bank's conversions posted in the year in the university's
  programmes and not reversed (its feed).
- ``growth``: certificates this year over last year, minus one.

A budget pool is split in proportion to scores, in fen, by largest remainder: the lines add up to
the pool exactly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.feed import emit
from services.kit.problems import Conflict, NotFound

from .clients import StatisticsClient
from .models import SCHEMA, Allocation
from .rulesets import ruleset_in_force
from .schemas import (
    AllocationIn,
    AllocationLine,
    AllocationRead,
    Indicators,
    MissingIndicator,
    PerformanceRead,
    RankingRead,
)

INDICATORS = tuple(Indicators.model_fields)
SHARE = Decimal("0.0001")
_FACTS = text(f"""
SELECT university_org,
       extract(year FROM issued_on)::int AS year,
       count(DISTINCT learner_id) AS certified_learners,
       count(*) AS certificates,
       count(*) FILTER (WHERE level <= 3) AS high_skill,
       count(*) FILTER (WHERE in_catalogue) AS catalogue_certificates,
       count(*) FILTER (WHERE occupation_code = ANY(CAST(:codes36 AS varchar[]))) AS industry_3_6_certificates,
       count(*) FILTER (WHERE body_kind = 'Y') AS employer_assessments,
       count(*) FILTER (WHERE body_kind = 'S') AS social_assessments
FROM {SCHEMA}.certificate_facts
WHERE status <> 'revoked' AND university_org IS NOT NULL AND issued_on >= :from AND issued_on <= :to
GROUP BY university_org, year""")
# Learners graduating in :year who hold a certificate issued by the year's end, per their school.
# Facts read before assessment published graduation year and school: an employer body's (Y)
# certificate is its own university's graduating-year student's (一.1), the year implied by the
# issue date (academic year from 1 September, DOMAIN.md §1); a social body's (S) stays unknown.
_GRADUATING = text(f"""
SELECT school, count(DISTINCT learner_id) AS graduating_certified FROM (
    SELECT learner_id,
           coalesce(school_org, CASE WHEN body_kind = 'Y' THEN university_org END) AS school,
           coalesce(graduation_year, CASE WHEN body_kind = 'Y' THEN extract(year FROM issued_on)::int
                    + CASE WHEN extract(month FROM issued_on) >= 9 THEN 1 ELSE 0 END END) AS graduating
    FROM {SCHEMA}.certificate_facts
    WHERE status <> 'revoked' AND issued_on <= :to
) f
WHERE school IS NOT NULL AND graduating = :year
GROUP BY school""")
_CONVERSIONS = text(f"""
SELECT university_org, count(*) AS conversions FROM {SCHEMA}.credit_conversions
WHERE reversed_on IS NULL AND university_org IS NOT NULL AND posted_on >= :from AND posted_on <= :to
GROUP BY university_org""")


class NothingToAllocate(Conflict):
    type_ = "nothing-to-allocate"
    title = "No university has a score above zero that year"


@dataclass(frozen=True)
class Scored:
    org: str
    indicators: dict[str, Decimal | None]
    score: Decimal
    rank: int


@dataclass
class Sources:
    """What one university's indicators are computed from, for one year (all counts)."""

    certificates: int = 0
    certificates_last_year: int = 0
    certified_learners: int = 0
    high_skill: int = 0
    catalogue: int = 0
    industry_3_6: int = 0
    employer: int = 0
    social: int = 0
    conversions: int = 0
    graduating_certified: int = 0
    graduating_students: int | None = None  # None: the bureau entered no count
    missing: dict[str, str] = field(default_factory=dict)


def _ratio(numerator: int, denominator: int) -> Decimal:
    return (Decimal(numerator) / Decimal(denominator)).quantize(SHARE, rounding=ROUND_HALF_UP)


def indicator_values(s: Sources, *, has_3_6_list: bool = True) -> tuple[dict[str, Decimal | None], dict[str, str]]:
    """The raw indicator values of one university (None: not computable, with the reason)."""
    missing = dict(s.missing)
    if s.graduating_students is None:
        share = None
        missing["graduates_certified_share"] = "no graduating-student count is entered for this university and year"
    elif s.graduating_students == 0:
        share = None
        missing["graduates_certified_share"] = "the graduating-student count entered is 0"
    else:
        share = _ratio(s.graduating_certified, s.graduating_students)
    last = s.certificates_last_year
    growth = _ratio(s.certificates - last, last) if last else Decimal(1 if s.certificates else 0).quantize(SHARE)
    if not has_3_6_list:
        missing["industry_3_6_certificates"] = "the rule set lists no '3+6' occupations"
    values: dict[str, Decimal | None] = {
        "graduates_certified_share": share,
        "certified_learners": Decimal(s.certified_learners),
        "high_skill_share": _ratio(s.high_skill, s.certificates) if s.certificates else Decimal(0).quantize(SHARE),
        "catalogue_certificates": Decimal(s.catalogue),
        "industry_3_6_certificates": Decimal(s.industry_3_6) if has_3_6_list else None,
        "employer_assessments": Decimal(s.employer),
        "social_assessments": Decimal(s.social),
        "credit_conversions": Decimal(s.conversions),
        "growth": growth,
    }
    return values, missing


def score_and_rank(rules: dict[str, Any], values: dict[str, dict[str, Decimal | None]]) -> list[Scored]:
    """Each indicator normalised to the year's best (negative or missing counts as 0), weighted,
    ×100; equal scores share a rank (1, 1, 3) and are listed by org."""
    places = Decimal(1).scaleb(-int(rules.get("score_places", 4)))
    weights = {k: Decimal(v["weight"]) for k, v in rules["indicators"].items()}

    def value(v: dict[str, Decimal | None], k: str) -> Decimal:
        return max(v.get(k) or Decimal(0), Decimal(0))

    best = {k: max((value(v, k) for v in values.values()), default=Decimal(0)) for k in weights}
    scores = {
        org: (sum((w * value(v, k) / best[k] for k, w in weights.items() if best[k] > 0), Decimal(0)) * 100).quantize(
            places, rounding=ROUND_HALF_UP
        )
        for org, v in values.items()
    }
    ordered = sorted(scores, key=lambda o: (-scores[o], o))
    out: list[Scored] = []
    for i, org in enumerate(ordered):
        rank = out[-1].rank if out and scores[org] == out[-1].score else i + 1
        out.append(Scored(org, values[org], scores[org], rank))
    return out


def largest_remainder(pool_fen: int, scored: list[Scored]) -> dict[str, int]:
    """Fen per university in proportion to score; the floors plus one fen each to the largest
    remainders (ties by rank, then org) add up to ``pool_fen`` exactly."""
    total = sum((s.score for s in scored), Decimal(0))
    if total <= 0:
        raise NothingToAllocate()
    exact = {s.org: Decimal(pool_fen) * s.score / total for s in scored}
    floors = {org: int(v.to_integral_value(rounding=ROUND_FLOOR)) for org, v in exact.items()}
    left = pool_fen - sum(floors.values())
    order = sorted(scored, key=lambda s: (-(exact[s.org] - floors[s.org]), s.rank, s.org))
    for s in order[:left]:
        floors[s.org] += 1
    return floors


@dataclass(frozen=True)
class Ranking:
    ruleset_id: uuid.UUID
    scored: list[Scored]
    sources: dict[str, Sources]
    missing: dict[str, dict[str, str]]


def codes_3_6(rules: dict[str, Any]) -> list[str] | None:
    listed = (rules.get("industry_3_6") or {}).get("occupations")
    return [str(c) for c in listed] if listed else None


async def gather(
    session: AsyncSession, statistics: StatisticsClient, *, year: int, codes36: list[str] | None
) -> dict[str, Sources]:
    """Per university: the counts its indicators for ``year`` are computed from."""
    graduates = await statistics.graduates(year)  # asked before any transaction is open
    period = {"from": date(year, 1, 1), "to": date(year, 12, 31)}
    out: dict[str, Sources] = {}
    facts = await session.execute(_FACTS, {"from": date(year - 1, 1, 1), "to": period["to"], "codes36": codes36 or []})
    for r in facts:
        s = out.setdefault(r.university_org, Sources())
        if r.year == year - 1:
            s.certificates_last_year = r.certificates
            continue
        s.certificates, s.certified_learners, s.high_skill = r.certificates, r.certified_learners, r.high_skill
        s.catalogue, s.industry_3_6 = r.catalogue_certificates, r.industry_3_6_certificates
        s.employer, s.social = r.employer_assessments, r.social_assessments
    for r in await session.execute(_CONVERSIONS, period):
        out.setdefault(r.university_org, Sources()).conversions = r.conversions
    for r in await session.execute(_GRADUATING, {"year": year, "to": period["to"]}):
        out.setdefault(r.school, Sources()).graduating_certified = r.graduating_certified
    # A university that did nothing in the year (last year's certificates only) is not ranked.
    active = {org: s for org, s in out.items() if s.certificates or s.conversions or s.graduating_certified}
    for org, s in active.items():
        s.graduating_students = graduates.get(org)
    return active


async def ranking(session: AsyncSession, statistics: StatisticsClient, *, year: int) -> Ranking:
    """The year's ranking under the rule set in force at the year's end."""
    ruleset = await ruleset_in_force(session, scheme="university_performance", on=date(year, 12, 31))
    await session.commit()  # no transaction is held open across the call to statistics
    codes36 = codes_3_6(ruleset.rules)
    sources = await gather(session, statistics, year=year, codes36=codes36)
    values: dict[str, dict[str, Decimal | None]] = {}
    missing: dict[str, dict[str, str]] = {}
    for org, s in sources.items():
        values[org], missing[org] = indicator_values(s, has_3_6_list=codes36 is not None)
    return Ranking(ruleset.id, score_and_rank(ruleset.rules, values), sources, missing)


def _read(s: Scored, year: int, r: Ranking) -> PerformanceRead:
    src = r.sources[s.org]
    return PerformanceRead(
        university_org=s.org,
        year=year,
        indicators=Indicators(**s.indicators),
        score=s.score,
        rank=s.rank,
        ruleset_id=r.ruleset_id,
        graduating_students=src.graduating_students,
        graduating_certified=src.graduating_certified,
        missing=[MissingIndicator(indicator=k, reason=v) for k, v in sorted(r.missing[s.org].items())],
    )


async def rankings(session: AsyncSession, statistics: StatisticsClient, *, year: int) -> RankingRead:
    r = await ranking(session, statistics, year=year)
    return RankingRead(year=year, ruleset_id=r.ruleset_id, items=[_read(s, year, r) for s in r.scored])


async def university(
    session: AsyncSession, statistics: StatisticsClient, *, principal: Principal, org: str, year: int
) -> PerformanceRead:
    """That university (or admin) only; another tenant's figures are 404."""
    principal.require_owner(org)
    r = await ranking(session, statistics, year=year)
    found = next((s for s in r.scored if s.org == org), None)
    if found is None:
        raise NotFound(f"no performance figures for {org} in {year}")
    return _read(found, year, r)


def _allocation_read(row: Allocation) -> AllocationRead:
    return AllocationRead(
        id=row.id,
        year=row.year,
        pool=row.pool,
        ruleset_id=row.ruleset_id,
        lines=[AllocationLine.model_validate(line) for line in row.lines],
        created_at=row.created_at,
    )


async def allocate(
    session: AsyncSession, statistics: StatisticsClient, *, principal: Principal, data: AllocationIn
) -> AllocationRead:
    """Policy 三.2: the pool split in proportion to scores, in fen, stored and published as an event."""
    r = await ranking(session, statistics, year=data.year)
    ruleset_id, scored = r.ruleset_id, r.scored
    pool_fen = int(data.pool * 100)
    fen = largest_remainder(pool_fen, scored)
    lines = [
        AllocationLine(
            university_org=s.org, score=s.score, rank=s.rank, amount=Decimal(fen[s.org]) / 100, amount_fen=fen[s.org]
        ).model_dump(mode="json")
        for s in scored
    ]
    row = Allocation(year=data.year, pool=data.pool, ruleset_id=ruleset_id, lines=lines, created_by=principal.sub)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    read = _allocation_read(row)
    await emit(session, SCHEMA, "incentives.allocation.published", f"allocation:{row.id}", read.model_dump(mode="json"))
    await session.commit()
    return read


async def list_allocations(session: AsyncSession, *, year: int | None) -> list[AllocationRead]:
    stmt = select(Allocation).order_by(col(Allocation.created_at).desc())
    if year is not None:
        stmt = stmt.where(Allocation.year == year)
    return [_allocation_read(r) for r in (await session.exec(stmt.limit(500))).all()]
