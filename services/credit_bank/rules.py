"""Conversion rules: a programme's (its university's) or general (the bureau's), dated (measure 三.4)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import text
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.pages import Page, PageParams, cursor_key, make_page
from services.kit.problems import Conflict, InvalidInput, NotFound, field_error

from .models import ConversionRule, Programme
from .policy import Policy, periods_overlap
from .programmes import ProgrammeNotFound
from .schemas import RuleCreate, RuleRead
from .sql import emit_event, run


class RuleNotFound(NotFound):
    type_ = "rule-not-found"
    title = "Conversion rule not found"


class OverlappingRule(Conflict):
    type_ = "overlapping-rule"
    title = "A rule for this programme, occupation and minimum level is already in force on these dates"


def rule_read(rule: ConversionRule) -> RuleRead:
    return RuleRead.model_validate(rule, from_attributes=True)


def _validate(principal: Principal, data: RuleCreate, policy: Policy) -> None:
    errors = []
    if data.credits > policy.max_credits_per_certificate:
        errors.append(
            field_error(["body", "credits"], f"at most {policy.max_credits_per_certificate} credits per certificate")
        )
    if data.valid_to is not None and data.valid_to < data.valid_from:
        errors.append(field_error(["body", "valid_to"], "before valid_from"))
    codes = [c.strip() for c in data.course_codes]
    if any(not c or len(c) > 50 for c in codes) or len(set(codes)) != len(codes):
        errors.append(field_error(["body", "course_codes"], "course codes must be distinct, 1 to 50 characters"))
    if data.programme_id is None and not principal.is_admin:
        errors.append(field_error(["body", "programme_id"], "a university's rule names one of its programmes"))
    if errors:
        raise InvalidInput("The rule has invalid fields", errors=errors)


async def create_rule(session: AsyncSession, *, principal: Principal, data: RuleCreate, policy: Policy) -> RuleRead:
    """A university dates rules for its own programmes; admin also general ones. Two rules for the same
    programme, occupation and minimum level may not be in force on the same day."""
    _validate(principal, data, policy)
    org: str | None = None
    if data.programme_id is not None:
        programme = await session.get(Programme, data.programme_id)
        if programme is None or not principal.owns_org(programme.university_org):
            raise ProgrammeNotFound()
        org = programme.university_org
    # Serialise writers of the same (programme, occupation, level): the overlap check below is then exact.
    await run(
        session,
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"cb-rule:{data.programme_id}:{data.occupation_code}:{data.min_level}"},
    )
    same = (
        await session.exec(
            select(ConversionRule).where(
                ConversionRule.programme_id == data.programme_id
                if data.programme_id is not None
                else col(ConversionRule.programme_id).is_(None),
                ConversionRule.occupation_code == data.occupation_code,
                ConversionRule.min_level == data.min_level,
            )
        )
    ).all()
    clash = next((r for r in same if periods_overlap(r.valid_from, r.valid_to, data.valid_from, data.valid_to)), None)
    if clash is not None:
        raise OverlappingRule(f"rule {clash.id} is in force from {clash.valid_from} to {clash.valid_to or 'open'}")
    rule = ConversionRule(
        **{**data.model_dump(), "course_codes": [c.strip() for c in data.course_codes]}, university_org=org
    )
    session.add(rule)
    await session.flush()
    await session.refresh(rule)
    read = rule_read(rule)
    await emit_event(session, "credit_bank.rule.created", f"rule:{rule.id}", read.model_dump(mode="json"))
    await session.commit()
    return read


def may_read_rule(principal: Principal, rule: ConversionRule) -> bool:
    """General rules are public policy; a programme's rules are its university's (and cross-tenant readers')."""
    return rule.university_org is None or principal.may_read_org(rule.university_org) or principal.is_student


async def get_rule(session: AsyncSession, *, principal: Principal, rule_id: uuid.UUID) -> RuleRead:
    rule = await session.get(ConversionRule, rule_id)
    if rule is None or not may_read_rule(principal, rule):
        raise RuleNotFound()
    return rule_read(rule)


async def list_rules(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageParams,
    programme_id: uuid.UUID | None,
    occupation_code: str | None,
    as_of: date | None,
) -> Page[RuleRead]:
    """Rules by id; a university sees its own programmes' rules and the general ones."""
    stmt = select(ConversionRule).order_by(col(ConversionRule.id))
    if principal.is_university:
        stmt = stmt.where(
            or_(col(ConversionRule.university_org).is_(None), ConversionRule.university_org == principal.org)
        )
    if programme_id is not None:
        stmt = stmt.where(ConversionRule.programme_id == programme_id)
    if occupation_code:
        stmt = stmt.where(ConversionRule.occupation_code == occupation_code)
    if as_of is not None:
        stmt = stmt.where(
            col(ConversionRule.valid_from) <= as_of,
            or_(col(ConversionRule.valid_to).is_(None), col(ConversionRule.valid_to) >= as_of),
        )
    after = cursor_key(page, lambda a: uuid.UUID(str(a)))
    if after is not None:
        stmt = stmt.where(col(ConversionRule.id) > after)
    rows = (await session.exec(stmt.limit(page.limit + 1))).all()
    return make_page([rule_read(r) for r in rows], page, key=lambda r: str(r.id))
