"""Conversions: an outcome turned into a programme's credits (学分银行 "转换", 课证融通, measure 三.4).

RULE DEFAULTS (DOMAIN.md §5), each with its own problem type: the programme's cap on converted
credits; one conversion per outcome per programme (a unique constraint decides a race); each
course replaced by one certificate only; the same occupation counts once, the highest level wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.idempotency import claim, complete, request_hash
from services.kit.problems import Conflict

from .events import CONVERSION_POSTED, CONVERSION_REVERSED, ConversionPosted, ConversionReversed
from .ledger import append, lock_account
from .models import SCHEMA, Conversion, ConversionRule, ConvertedCourse, Outcome, Programme
from .outcomes import AccountNotFound, OutcomeNotFound
from .policy import RuleCandidate, cap, choose_rule, today_in_shanghai
from .programmes import ProgrammeNotFound
from .schemas import ConversionCreate, ConversionRead
from .sql import emit_event, run


class AlreadyConverted(Conflict):
    type_ = "already-converted"
    title = "This outcome is already converted for this programme"


class NoConversionRule(Conflict):
    type_ = "no-conversion-rule"
    title = "No conversion rule in force admits this outcome for this programme"


class ConversionCapExceeded(Conflict):
    type_ = "conversion-cap-exceeded"
    title = "The programme's cap on converted credits would be exceeded"


class CourseAlreadyReplaced(Conflict):
    type_ = "course-already-replaced"
    title = "A course of this rule is already replaced by another certificate"


class OccupationAlreadyCounted(Conflict):
    type_ = "occupation-already-counted"
    title = "A certificate of this occupation at the same or a higher level is already converted"


class OutcomeSuspended(Conflict):
    type_ = "outcome-suspended"
    title = "The certificate is suspended: no conversions until it is reinstated"


class OutcomeRevoked(Conflict):
    type_ = "outcome-revoked"
    title = "The certificate is revoked"


_CLAIM_PAIR = text(
    f"INSERT INTO {SCHEMA}.conversions (id, learner_id, outcome_id, programme_id, university_org, rule_id, "
    "occupation_code, level, credits, course_codes, status) VALUES (:id, :l, :o, :p, :org, :r, :occ, :lv, :c, "
    "CAST(:courses AS jsonb), 'posted') ON CONFLICT (outcome_id, programme_id) DO NOTHING RETURNING id"
)
_REVERSE = text(
    f"UPDATE {SCHEMA}.conversions SET status = 'reversed', reversed_at = now(), reverse_reason = :why "
    "WHERE id = :id AND status = 'posted' RETURNING id"
)
# The courses claimed, the university linked to the account and the ledger's convert entry, in one trip.
_POST = text(
    f"""WITH courses AS (INSERT INTO {SCHEMA}.converted_courses (learner_id, programme_id, course_code, conversion_id)
                 SELECT :l, :p, unnest(CAST(:codes AS varchar[])), :cv),
link AS (INSERT INTO {SCHEMA}.account_universities (learner_id, university_org) VALUES (:l, :org)
         ON CONFLICT DO NOTHING)
INSERT INTO {SCHEMA}.ledger_entries (learner_id, kind, credits, outcome_id, conversion_id, programme_id, rule_id,
                                     reason)
VALUES (:l, 'convert', :c, :o, :cv, :p, :r, :why) RETURNING id"""
)
_DROP_COURSES = text(f"DELETE FROM {SCHEMA}.converted_courses WHERE conversion_id = :id")


async def _load(session: AsyncSession, principal: Principal, data: ConversionCreate) -> tuple[Programme, Outcome]:
    """A student converts their own outcomes; a university into its own programmes; admin anything."""
    if principal.is_student and not principal.is_learner(data.learner_id):
        raise AccountNotFound()
    programme = await session.get(Programme, data.programme_id)
    if programme is None or not (principal.owns_org(programme.university_org) or principal.is_student):
        raise ProgrammeNotFound()
    outcome = await session.get(Outcome, data.outcome_id)
    if outcome is None or outcome.learner_id != data.learner_id:
        raise OutcomeNotFound()
    if outcome.status == "suspended":
        raise OutcomeSuspended(f"certificate {outcome.certificate_number}: {outcome.status_reason or 'suspended'}")
    if outcome.status == "revoked":
        raise OutcomeRevoked(f"certificate {outcome.certificate_number}: {outcome.status_reason or 'revoked'}")
    return programme, outcome


async def _rule_for(session: AsyncSession, programme: Programme, outcome: Outcome, on: date) -> ConversionRule:
    rows = (
        await session.exec(
            select(ConversionRule).where(
                ConversionRule.occupation_code == outcome.occupation_code,
                or_(ConversionRule.programme_id == programme.id, col(ConversionRule.programme_id).is_(None)),
            )
        )
    ).all()
    return rule_in_force(rows, programme, outcome, on)


def rule_in_force(rules: Iterable[ConversionRule], programme: Programme, outcome: Outcome, on: date) -> ConversionRule:
    """Of these rules (the programme's own and general ones for the outcome's occupation), the one
    :func:`choose_rule` picks on ``on``; the single and the batch conversions both decide by it."""
    if outcome.kind != "certificate" or outcome.occupation_code is None or outcome.level is None:
        raise NoConversionRule(f"a {outcome.kind} outcome has no occupation and level to convert by")
    rules = list(rules)
    by_id = {r.id: r for r in rules}
    chosen = choose_rule(
        [RuleCandidate(r.id, r.programme_id, r.occupation_code, r.min_level, r.valid_from, r.valid_to) for r in rules],
        programme_id=programme.id,
        occupation_code=outcome.occupation_code,
        level=outcome.level,
        on=on,
    )
    if chosen is None:
        raise NoConversionRule(
            f"no rule for {outcome.occupation_code} at level {outcome.level} is in force on {on} for {programme.code}"
        )
    return by_id[chosen.id]


async def reverse(session: AsyncSession, conversion: Conversion, *, reason: str) -> int | None:
    """Reverses a posted conversion once: a ``reverse`` ledger entry, its courses freed, an event.
    Returns the ledger entry id, or None when it was already reversed."""
    if (await run(session, _REVERSE, {"id": conversion.id, "why": reason[:500]})).first() is None:
        return None
    await run(session, _DROP_COURSES, {"id": conversion.id})
    entry = await append(
        session,
        learner_id=conversion.learner_id,
        kind="reverse",
        credits=-conversion.credits,
        outcome_id=conversion.outcome_id,
        conversion_id=conversion.id,
        programme_id=conversion.programme_id,
        rule_id=conversion.rule_id,
        reason=reason,
    )
    await emit_event(
        session,
        CONVERSION_REVERSED,
        f"conversion:{conversion.id}",
        ConversionReversed(
            conversion_id=conversion.id,
            learner_id=conversion.learner_id,
            outcome_id=conversion.outcome_id,
            programme_id=conversion.programme_id,
            university_org=conversion.university_org,
            credits=conversion.credits,
            ledger_entry_id=entry,
            reason=reason,
        ).model_dump(mode="json"),
    )
    return entry


def _check_counts(
    *,
    outcome: Outcome,
    rule: ConversionRule,
    programme: Programme,
    posted: list[Conversion],
    claimed_courses: dict[str, uuid.UUID],
) -> list[Conversion]:
    """The programme's rules on the learner's posted conversions; returns the lower-level conversions of
    the same occupation that this one replaces."""
    assert outcome.level is not None
    same = [c for c in posted if c.occupation_code == outcome.occupation_code]
    higher = [c for c in same if c.level <= outcome.level]
    if higher:
        raise OccupationAlreadyCounted(
            f"{outcome.occupation_code} is already converted at level {min(c.level for c in higher)}; "
            "the same occupation counts once, the highest level wins"
        )
    replaced = {c.id for c in same}
    taken = sorted(code for code in rule.course_codes if claimed_courses.get(code) not in (None, *replaced))
    if taken:
        raise CourseAlreadyReplaced(f"course(s) {', '.join(taken)} already replaced by another certificate")
    kept = sum((c.credits for c in posted if c.id not in replaced), Decimal(0))
    limit = cap(programme.graduation_credits, programme.max_converted_ratio)
    if kept + rule.credits > limit:
        raise ConversionCapExceeded(
            f"{kept} + {rule.credits} credits would pass the cap of {limit} "
            f"({programme.max_converted_ratio} of {programme.graduation_credits})"
        )
    return same


async def convert(
    session: AsyncSession, *, principal: Principal, data: ConversionCreate, idempotency_key: str | None
) -> tuple[int, dict[str, Any]]:
    """Applies the rule in force today (Asia/Shanghai) to one outcome for one programme."""
    if idempotency_key:
        stored = await claim(
            session,
            SCHEMA,
            principal=principal,
            key=idempotency_key,
            body_hash=request_hash(data.model_dump(mode="json")),
        )
        if stored is not None:
            return stored
    programme, outcome = await _load(session, principal, data)
    rule = await _rule_for(session, programme, outcome, today_in_shanghai())
    await lock_account(session, outcome.learner_id)
    conversion_id = uuid.uuid4()
    won = (
        await run(
            session,
            _CLAIM_PAIR,
            {
                "id": conversion_id,
                "l": outcome.learner_id,
                "o": outcome.id,
                "p": programme.id,
                "org": programme.university_org,
                "r": rule.id,
                "occ": outcome.occupation_code,
                "lv": outcome.level,
                "c": rule.credits,
                "courses": _json(rule.course_codes),
            },
        )
    ).first()
    if won is None:
        raise AlreadyConverted(f"outcome {outcome.id} is already converted for programme {programme.code}")
    posted = (
        await session.exec(
            select(Conversion).where(
                Conversion.learner_id == outcome.learner_id,
                Conversion.programme_id == programme.id,
                Conversion.status == "posted",
                Conversion.id != conversion_id,
            )
        )
    ).all()
    claimed = {
        c.course_code: c.conversion_id
        for c in (
            await session.exec(
                select(ConvertedCourse).where(
                    ConvertedCourse.learner_id == outcome.learner_id, ConvertedCourse.programme_id == programme.id
                )
            )
        ).all()
    }
    replaced = _check_counts(
        outcome=outcome, rule=rule, programme=programme, posted=list(posted), claimed_courses=claimed
    )
    for old in replaced:
        await reverse(
            session, old, reason=f"replaced by level {outcome.level} certificate {outcome.certificate_number}"
        )
    entry = int(
        (
            await run(
                session,
                _POST,
                {
                    "l": outcome.learner_id,
                    "p": programme.id,
                    "org": programme.university_org,
                    "codes": list(rule.course_codes),
                    "cv": conversion_id,
                    "c": rule.credits,
                    "o": outcome.id,
                    "r": rule.id,
                    "why": f"{outcome.occupation_code} level {outcome.level} under rule {rule.id} for {programme.code}",
                },
            )
        ).scalar_one()
    )
    read = ConversionRead(
        conversion_id=conversion_id,
        learner_id=outcome.learner_id,
        outcome_id=outcome.id,
        programme_id=programme.id,
        rule_id=rule.id,
        credits=rule.credits,
        course_codes=list(rule.course_codes),
        ledger_entry_id=entry,
        replaced_conversion_ids=[c.id for c in replaced],
    )
    answer = read.model_dump(mode="json")
    event = ConversionPosted(
        **read.model_dump(),
        university_org=programme.university_org,
        occupation_code=outcome.occupation_code,
        level=outcome.level,
    )
    await emit_event(session, CONVERSION_POSTED, f"conversion:{conversion_id}", event.model_dump(mode="json"))
    if idempotency_key:
        await complete(session, SCHEMA, principal=principal, key=idempotency_key, status=201, body=answer)
    await session.commit()
    return 201, answer


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
