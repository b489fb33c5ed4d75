"""University performance (policy 三.1, DOMAIN.md §3): indicators per university and year, a
weighted score per the ``university_performance`` rule set, a ranking, and budget allocations.

Indicators come from assessment's feed (``certificate_facts``), never from another schema. A
budget pool is split in proportion to scores, in fen, by largest remainder: the lines add up to
the pool exactly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.feed import emit
from services.kit.problems import Conflict, NotFound

from .models import SCHEMA, Allocation
from .rulesets import ruleset_in_force
from .schemas import AllocationIn, AllocationLine, AllocationRead, Indicators, PerformanceRead, RankingRead

INDICATORS = tuple(Indicators.model_fields)
_FACTS = text(f"""
SELECT university_org,
       extract(year FROM issued_on)::int AS year,
       count(DISTINCT learner_id) AS certified_learners,
       count(*) AS certificates,
       count(*) FILTER (WHERE level <= 3) AS high_skill,
       count(*) FILTER (WHERE in_catalogue) AS catalogue_certificates,
       count(*) FILTER (WHERE body_kind = 'Y') AS employer_assessments,
       count(*) FILTER (WHERE body_kind = 'S') AS social_assessments
FROM {SCHEMA}.certificate_facts
WHERE status <> 'revoked' AND university_org IS NOT NULL AND issued_on >= :from AND issued_on <= :to
GROUP BY university_org, year""")


class NothingToAllocate(Conflict):
    type_ = "nothing-to-allocate"
    title = "No university has a score above zero that year"


@dataclass(frozen=True)
class Scored:
    org: str
    indicators: dict[str, Decimal]
    score: Decimal
    rank: int


def indicators_by_org(rows: list[Any], year: int) -> dict[str, dict[str, Decimal]]:
    """Raw indicator values per university for ``year`` (``rows`` cover ``year`` and the one before)."""
    this = {r.university_org: r for r in rows if r.year == year}
    before = {r.university_org: r.certificates for r in rows if r.year == year - 1}
    out: dict[str, dict[str, Decimal]] = {}
    for org, r in this.items():
        last = Decimal(before.get(org, 0))
        growth = (Decimal(r.certificates) - last) / last if last else Decimal(1 if r.certificates else 0)
        out[org] = {
            "certified_learners": Decimal(r.certified_learners),
            "high_skill_share": (Decimal(r.high_skill) / Decimal(r.certificates)).quantize(Decimal("0.0001")),
            "catalogue_certificates": Decimal(r.catalogue_certificates),
            "employer_assessments": Decimal(r.employer_assessments),
            "social_assessments": Decimal(r.social_assessments),
            "credit_conversions": Decimal(0),  # the credit bank publishes no conversion events yet
            "growth": growth.quantize(Decimal("0.0001")),
        }
    return out


def score_and_rank(rules: dict[str, Any], values: dict[str, dict[str, Decimal]]) -> list[Scored]:
    """Each indicator normalised to the year's best (negative counts as 0), weighted, ×100; equal
    scores share a rank (1, 1, 3) and are listed by org."""
    places = Decimal(1).scaleb(-int(rules.get("score_places", 4)))
    weights = {k: Decimal(v["weight"]) for k, v in rules["indicators"].items()}
    best = {k: max((max(v[k], Decimal(0)) for v in values.values()), default=Decimal(0)) for k in weights}
    scores = {
        org: (
            sum(
                (w * max(v[k], Decimal(0)) / best[k] for k, w in weights.items() if best[k] > 0),
                Decimal(0),
            )
            * 100
        ).quantize(places, rounding=ROUND_HALF_UP)
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


async def ranking(session: AsyncSession, *, year: int) -> tuple[uuid.UUID, list[Scored]]:
    """The year's ranking under the rule set in force at the year's end."""
    ruleset = await ruleset_in_force(session, scheme="university_performance", on=date(year, 12, 31))
    rows = list(await session.execute(_FACTS, {"from": date(year - 1, 1, 1), "to": date(year, 12, 31)}))
    return ruleset.id, score_and_rank(ruleset.rules, indicators_by_org(rows, year))


def _read(s: Scored, year: int, ruleset_id: uuid.UUID) -> PerformanceRead:
    return PerformanceRead(
        university_org=s.org,
        year=year,
        indicators=Indicators(**s.indicators),
        score=s.score,
        rank=s.rank,
        ruleset_id=ruleset_id,
    )


async def rankings(session: AsyncSession, *, year: int) -> RankingRead:
    ruleset_id, scored = await ranking(session, year=year)
    return RankingRead(year=year, ruleset_id=ruleset_id, items=[_read(s, year, ruleset_id) for s in scored])


async def university(session: AsyncSession, *, principal: Principal, org: str, year: int) -> PerformanceRead:
    """That university (or admin) only; another tenant's figures are 404."""
    principal.require_owner(org)
    ruleset_id, scored = await ranking(session, year=year)
    found = next((s for s in scored if s.org == org), None)
    if found is None:
        raise NotFound(f"no performance figures for {org} in {year}")
    return _read(found, year, ruleset_id)


def _allocation_read(row: Allocation) -> AllocationRead:
    return AllocationRead(
        id=row.id,
        year=row.year,
        pool=row.pool,
        ruleset_id=row.ruleset_id,
        lines=[AllocationLine.model_validate(line) for line in row.lines],
        created_at=row.created_at,
    )


async def allocate(session: AsyncSession, *, principal: Principal, data: AllocationIn) -> AllocationRead:
    """Policy 三.2: the pool split in proportion to scores, in fen, stored and published as an event."""
    ruleset_id, scored = await ranking(session, year=data.year)
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
