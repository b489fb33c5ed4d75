"""Shortage score and verdict per occupation (docs/catalogue.md has the formula).

Policy rule: the catalogue is adjusted from labour-market evidence (动态调整). Each indicator is
normalised to 0..1 (1 = more shortage), weighted by the rule row in force (data, source
"default" unless the bureau adds another), and compared with the edition in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.problems import NotFound

from .entries import edition_in_force
from .models import CertificateSupply, EditionEntry, FeedCursor, Occupation, RecommendationRule, Signal
from .schemas_adjust import (
    Component,
    Recommendation,
    RecommendationInputs,
    Recommendations,
    RuleIn,
    RuleRead,
    Verdict,
)
from .sql import emit_event

ZERO, ONE = Decimal(0), Decimal(1)
PLACES = Decimal("0.0001")


class NoRule(NotFound):
    type_ = "recommendation-rule-not-found"
    title = "No recommendation rule in force"


@dataclass(frozen=True)
class Evidence:
    vacancies: int
    job_seekers: int
    wage_growth: Decimal
    fill_rate: Decimal
    certificates_issued: int = 0
    certificates_revoked: int = 0


def _clamp(x: Decimal) -> Decimal:
    return max(ZERO, min(ONE, x))


def normalised(ev: Evidence, caps: dict[str, Decimal]) -> dict[str, tuple[Decimal | None, Decimal]]:
    """indicator → (raw value, 0..1 where 1 means more shortage)."""
    if ev.job_seekers > 0:
        ratio: Decimal | None = Decimal(ev.vacancies) / Decimal(ev.job_seekers)
        s_ratio = _clamp(ratio / caps["vacancy_ratio"])  # type: ignore[operator]
    else:  # vacancies and nobody looking: the ratio is off the scale
        ratio, s_ratio = None, ONE if ev.vacancies > 0 else ZERO
    net = Decimal(max(ev.certificates_issued - ev.certificates_revoked, 0))
    per_vacancy = net / Decimal(ev.vacancies) if ev.vacancies > 0 else None
    s_supply = ONE - _clamp(per_vacancy / caps["certificates_per_vacancy"]) if per_vacancy is not None else ZERO
    return {
        "vacancy_ratio": (ratio, s_ratio),
        "fill_rate": (ev.fill_rate, ONE - _clamp(ev.fill_rate)),
        "wage_growth": (ev.wage_growth, _clamp(ev.wage_growth / caps["wage_growth"])),
        "certificate_supply": (per_vacancy, s_supply),
    }


def shortage_score(
    ev: Evidence, weights: dict[str, Decimal], caps: dict[str, Decimal]
) -> tuple[Decimal, dict[str, Component]]:
    """Σ weight·normalised / Σ weight, rounded half-up to 4 places; every input is shown."""
    total = sum(weights.values(), ZERO)
    parts = normalised(ev, caps)
    components = {}
    score = ZERO
    for name, (raw, norm) in parts.items():
        contribution = weights[name] * norm / total
        score += contribution
        components[name] = Component(
            value=float(raw.quantize(PLACES)) if raw is not None else None,
            normalised=float(norm.quantize(PLACES)),
            weight=float(weights[name]),
            contribution=float(contribution.quantize(PLACES)),
        )
    return score.quantize(PLACES, rounding=ROUND_HALF_UP), components


def classify(
    score: Decimal | None, *, in_catalogue: bool, review_due: bool, thresholds: dict[str, Decimal]
) -> tuple[Verdict, list[str]]:
    """add / keep / remove / review against the edition in force (peers' "confident on / off /
    for consultation")."""
    if score is None:
        return "review", ["no labour-market signal for this period"]
    add_at, remove_below = thresholds["add_at"], thresholds["remove_below"]
    if score >= add_at:
        verdict: Verdict = "keep" if in_catalogue else "add"
        reasons = [f"score {score} ≥ add_at {add_at}"]
    elif score < remove_below:
        verdict = "remove" if in_catalogue else "keep"
        reasons = [f"score {score} < remove_below {remove_below}"]
    else:
        verdict, reasons = (
            "review",
            [f"score {score} between remove_below {remove_below} and add_at {add_at}"],
        )
    if verdict == "keep" and in_catalogue and review_due:
        verdict = "review"
        reasons.append("the entry's review_by date has passed")
    return verdict, reasons


def rule_read(rule: RecommendationRule) -> RuleRead:
    return RuleRead(
        id=rule.id or 0,
        source=rule.source,
        valid_from=rule.valid_from,
        note=rule.note,
        weights={k: Decimal(str(v)) for k, v in rule.weights.items()},
        caps={k: Decimal(str(v)) for k, v in rule.caps.items()},
        thresholds={k: Decimal(str(v)) for k, v in rule.thresholds.items()},
    )


async def rule_in_force(session: AsyncSession, as_of: date) -> RuleRead:
    rule = (
        await session.exec(
            select(RecommendationRule)
            .where(col(RecommendationRule.valid_from) <= as_of)
            .order_by(col(RecommendationRule.valid_from).desc(), col(RecommendationRule.id).desc())
            .limit(1)
        )
    ).first()
    if rule is None:
        raise NoRule(f"no recommendation rule is valid on {as_of}")
    return rule_read(rule)


async def add_rule(session: AsyncSession, *, body: RuleIn, actor: str) -> RuleRead:
    """A new rule row; older rows stay, so every past recommendation can be recomputed."""
    row = RecommendationRule(
        source=body.source,
        valid_from=body.valid_from,
        note=body.note,
        weights={k: str(v) for k, v in body.weights.items()},
        caps={k: str(v) for k, v in body.caps.items()},
        thresholds={k: str(v) for k, v in body.thresholds.items()},
    )
    session.add(row)
    await session.flush()
    read = rule_read(row)
    await emit_event(
        session,
        "catalogue.recommendation_rule.created",
        str(row.id),
        {**read.model_dump(mode="json"), "by": actor},
    )
    await session.commit()
    return read


async def _supply(session: AsyncSession, period: str) -> dict[str, tuple[int, int]]:
    rows = (
        await session.exec(
            select(
                CertificateSupply.occupation_code,
                func.sum(CertificateSupply.issued),
                func.sum(CertificateSupply.revoked),
            )
            .where(CertificateSupply.period == period)
            .group_by(col(CertificateSupply.occupation_code))
        )
    ).all()
    return {code: (int(i), int(r)) for code, i, r in rows}


def _supply_note(feed: FeedCursor | None, issued: int, period: str) -> str | None:
    if feed is None:
        return "certificate supply counted as 0: no events from the assessment feed have arrived yet"
    if issued == 0:
        return f"no certificates issued in {period} according to the assessment feed"
    return None


async def recommend(session: AsyncSession, *, period: str, as_of: date) -> Recommendations:
    """Every occupation with a signal in ``period`` or an entry in the edition in force on ``as_of``."""
    rule = await rule_in_force(session, as_of)
    edition = await edition_in_force(session, as_of)
    entries: dict[str, EditionEntry] = {}
    if edition is not None:
        for e in (
            await session.exec(
                select(EditionEntry)
                .where(EditionEntry.edition_id == edition.id)
                .order_by(col(EditionEntry.work_type).nulls_first())
            )
        ).all():
            entries.setdefault(e.occupation_code, e)
    signals = {s.occupation_code: s for s in (await session.exec(select(Signal).where(Signal.period == period))).all()}
    supply = await _supply(session, period)
    feed = await session.get(FeedCursor, "assessment")
    codes = sorted(set(entries) | set(signals))
    names = dict(
        (
            await session.exec(
                select(Occupation.code, Occupation.name).where(
                    Occupation.classification == (edition.classification if edition else "2022"),
                    col(Occupation.code).in_(codes),
                )
            )
        ).all()
    )
    items = [
        _item(
            code,
            names.get(code),
            entries.get(code),
            signals.get(code),
            supply.get(code, (0, 0)),
            rule,
            feed,
            period,
            as_of,
        )
        for code in codes
    ]
    items.sort(key=lambda r: (r.score is None, -(r.score or 0), r.occupation_code))
    feed_state: dict[str, Any] = {
        "connected": feed is not None,
        "cursor": feed.cursor if feed else None,
        "updated_at": feed.updated_at.isoformat() if feed and feed.updated_at else None,
    }
    return Recommendations(
        period=period,
        as_of=as_of,
        edition_id=edition.id if edition else None,
        rule=rule,
        certificate_feed=feed_state,
        items=items,
    )


def _item(
    code: str,
    name: str | None,
    entry: EditionEntry | None,
    signal: Signal | None,
    supply: tuple[int, int],
    rule: RuleRead,
    feed: FeedCursor | None,
    period: str,
    as_of: date,
) -> Recommendation:
    issued, revoked = supply
    score: Decimal | None = None
    components: dict[str, Component] = {}
    if signal is not None:
        ev = Evidence(
            vacancies=signal.vacancies,
            job_seekers=signal.job_seekers,
            wage_growth=signal.wage_growth,
            fill_rate=signal.fill_rate,
            certificates_issued=issued,
            certificates_revoked=revoked,
        )
        score, components = shortage_score(ev, rule.weights, rule.caps)
    review_due = entry is not None and entry.review_by is not None and entry.review_by <= as_of
    verdict, reasons = classify(
        score, in_catalogue=entry is not None, review_due=review_due, thresholds=rule.thresholds
    )
    note = _supply_note(feed, issued, period)
    if note and signal is not None:
        reasons.append(note)
    return Recommendation(
        occupation_code=code,
        name=name,
        in_catalogue=entry is not None,
        entry_id=entry.id if entry else None,
        shortage_level=entry.shortage_level if entry else None,
        score=float(score) if score is not None else None,
        verdict=verdict,
        reasons=reasons,
        components=components,
        inputs=RecommendationInputs(
            vacancies=signal.vacancies if signal else None,
            job_seekers=signal.job_seekers if signal else None,
            median_wage=signal.median_wage if signal else None,
            wage_growth=signal.wage_growth if signal else None,
            fill_rate=signal.fill_rate if signal else None,
            certificates_issued=issued,
            certificates_revoked=revoked,
        ),
    )
