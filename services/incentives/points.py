"""Points evaluations (settlement and residence schemes, policy 二): evaluate, simulate, list, re-run.

Skill-certificate points rest only on evidence this service fetches itself: the learner's valid
certificates from assessment and, for each, the catalogue's answer for its issue date. The
request declares the other items; nothing it says about certificates is believed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.feed import emit
from services.kit.pages import Page, PageParams, make_page, newest_first_after, newest_first_key
from services.kit.problems import Conflict, NotFound

from . import engine, tenancy
from .deps import Context
from .events import EVALUATION_RECORDED, EvaluationRecorded
from .models import SCHEMA, Evaluation, RuleSet
from .rulesets import ruleset_in_force
from .schemas import EvaluateIn, EvaluationRead, HypotheticalCertificate, ItemChange, LineItemRead, RerunRead

SHANGHAI = ZoneInfo("Asia/Shanghai")


class RuleSetOutdated(Conflict):
    type_ = "ruleset-outdated"
    title = "The rule set in force has a shape the engine does not know"


class EvaluationNotFound(NotFound):
    type_ = "evaluation-not-found"
    title = "Evaluation not found"


@dataclass
class Waited:
    """Seconds one evaluation waited on each other service (answered as ``Server-Timing``)."""

    assessment_s: float = 0.0
    catalogue_s: float = 0.0

    def header(self) -> str:
        return f"assessment;dur={self.assessment_s * 1000:.1f}, catalogue;dur={self.catalogue_s * 1000:.1f}"


def today() -> date:
    return datetime.now(SHANGHAI).date()


async def certificate_facts(
    ctx: Context,
    learner_id: str,
    as_of: date,
    hypothetical: list[HypotheticalCertificate],
    waited: Waited,
) -> list[engine.CertificateFact]:
    """The learner's certificates valid and issued by ``as_of``, plus hypothetical ones, with the
    catalogue's answer on each issue date — asked in one batched call."""
    started = time.perf_counter()
    held = [c for c in await ctx.assessment.certificates(learner_id) if c.status == "valid" and c.issued_on <= as_of]
    waited.assessment_s += time.perf_counter() - started
    rows: list[tuple[str, str, int, date, str | None, bool]] = [
        (c.number, c.occupation_code, c.level, c.issued_on, c.work_type, False) for c in held
    ]
    rows += [
        (f"hypothetical-{i + 1}", h.occupation_code, h.level, h.issued_on or as_of, h.work_type, True)
        for i, h in enumerate(hypothetical)
    ]
    started = time.perf_counter()
    answers = await ctx.catalogue.lookup([(code, lv, on, wt) for _, code, lv, on, wt, _ in rows]) if rows else {}
    waited.catalogue_s += time.perf_counter() - started
    return [
        engine.CertificateFact(
            number=number,
            occupation_code=code,
            level=lv,
            issued_on=on,
            in_catalogue=answers[(code, lv, on, wt)].in_catalogue,
            edition_id=answers[(code, lv, on, wt)].edition_id,
            hypothetical=hypo,
        )
        for number, code, lv, on, wt, hypo in rows
    ]


def _read(ruleset: RuleSet, data: EvaluateIn, as_of: date, result: engine.Score, **extra: Any) -> EvaluationRead:
    return EvaluationRead(
        id=extra.get("id"),
        learner_id=data.learner_id,
        scheme=data.scheme,
        as_of=as_of,
        total=result.total,
        threshold=result.threshold,
        passes=result.passes,
        ruleset_id=ruleset.id,
        ruleset_version=ruleset.version,
        items=[LineItemRead(item=i.item, points=i.points, rule=i.rule, evidence=i.evidence) for i in result.items],
        declared=data.declared,
        rerun_of=extra.get("rerun_of"),
        created_at=extra.get("created_at"),
    )


async def _score(
    session: AsyncSession,
    ctx: Context,
    data: EvaluateIn,
    hypothetical: list[HypotheticalCertificate],
    waited: Waited | None = None,
) -> tuple[RuleSet, date, engine.Score]:
    as_of = data.as_of or today()
    ruleset = await ruleset_in_force(session, scheme=data.scheme, on=as_of)
    if not isinstance(ruleset.rules.get("items"), list):  # published before rule sets were schema-checked
        raise RuleSetOutdated(f"rule set {ruleset.id} predates the engine; publish a current version")
    engine.validate_declared(ruleset.rules, data.declared)
    await session.commit()  # no transaction is held open across the calls to other services
    facts = await certificate_facts(ctx, data.learner_id, as_of, hypothetical, waited or Waited())
    return ruleset, as_of, engine.score(ruleset.rules, data.declared, facts)


def skill_points(rules: dict[str, Any], result: engine.Score) -> int:
    """Points the rule set's skill-certificate items (kind ``certificate``) gave; 0 if none fired."""
    certificate_items = {i["id"] for i in rules["items"] if i["kind"] == "certificate"}
    return sum(li.points for li in result.items if li.item in certificate_items)


async def _store(
    session: AsyncSession,
    principal: Principal,
    ruleset: RuleSet,
    data: EvaluateIn,
    as_of: date,
    result: engine.Score,
    rerun_of: uuid.UUID | None = None,
) -> EvaluationRead:
    row = Evaluation(
        learner_id=data.learner_id,
        scheme=data.scheme,
        ruleset_id=ruleset.id,
        ruleset_version=ruleset.version,
        as_of=as_of,
        declared=data.declared,
        total=result.total,
        threshold=result.threshold,
        passes=result.passes,
        items=[LineItemRead.model_validate(i, from_attributes=True).model_dump(mode="json") for i in result.items],
        requested_by=principal.sub,
        org=principal.org if principal.is_university else None,
        rerun_of=rerun_of,
        created_at=datetime.now(UTC),  # the instant, not the transaction's start: newest-first stays exact
    )
    session.add(row)
    await session.flush()
    event = EvaluationRecorded(
        id=str(row.id),
        learner_id=row.learner_id,
        scheme=row.scheme,
        ruleset_id=ruleset.id,
        as_of=as_of,
        total=row.total,
        threshold=row.threshold,
        skill_points=skill_points(ruleset.rules, result),
        passes=row.passes,
        rerun_of=rerun_of,
    )
    await emit(session, SCHEMA, EVALUATION_RECORDED, f"evaluation:{row.id}", event.model_dump(mode="json"))
    await session.commit()
    return _read(ruleset, data, as_of, result, id=row.id, rerun_of=rerun_of, created_at=row.created_at)


async def evaluate(
    session: AsyncSession, ctx: Context, *, principal: Principal, data: EvaluateIn, waited: Waited | None = None
) -> EvaluationRead:
    """Policy 二: points by the rule set in force on ``as_of``; certificate points from evidence only."""
    await tenancy.require_may_act_for(session, principal, data.learner_id)
    ruleset, as_of, result = await _score(session, ctx, data, [], waited)
    return await _store(session, principal, ruleset, data, as_of, result)


async def simulate(
    session: AsyncSession,
    ctx: Context,
    *,
    principal: Principal,
    data: EvaluateIn,
    hypothetical: list[HypotheticalCertificate],
) -> EvaluationRead:
    """As evaluate, with hypothetical certificates added; nothing is stored."""
    await tenancy.require_may_act_for(session, principal, data.learner_id)
    ruleset, as_of, result = await _score(session, ctx, data, hypothetical)
    return _read(ruleset, data, as_of, result)


def _row_read(row: Evaluation) -> EvaluationRead:
    return EvaluationRead(
        id=row.id,
        learner_id=row.learner_id,
        scheme=row.scheme,
        as_of=row.as_of,
        total=row.total,
        threshold=row.threshold,
        passes=row.passes,
        ruleset_id=row.ruleset_id,
        ruleset_version=row.ruleset_version,
        items=[LineItemRead.model_validate(i) for i in row.items],
        declared=row.declared,
        rerun_of=row.rerun_of,
        created_at=row.created_at,
    )


async def list_evaluations(
    session: AsyncSession, *, principal: Principal, learner_id: str, page: PageParams
) -> Page[EvaluationRead]:
    """Newest first. A student sees only their own (another's list is empty); a university those of
    its own students (another learner is 404); admin and platform all."""
    if principal.is_student and not principal.is_learner(learner_id):
        return Page(items=[], next_cursor=None)
    if principal.is_university:
        await tenancy.require_may_act_for(session, principal, learner_id)
    stmt = select(Evaluation).where(Evaluation.learner_id == learner_id)
    after = newest_first_after(page, col(Evaluation.created_at), col(Evaluation.id))
    if after is not None:
        stmt = stmt.where(after)
    stmt = stmt.order_by(col(Evaluation.created_at).desc(), col(Evaluation.id).desc()).limit(page.limit + 1)
    rows = make_page(list((await session.exec(stmt)).all()), page, key=lambda r: newest_first_key(r.created_at, r.id))
    return Page(items=[_row_read(r) for r in rows.items], next_cursor=rows.next_cursor)


def item_changes(before: list[LineItemRead], after: list[LineItemRead]) -> list[ItemChange]:
    """Item by item, in the order items first appear (old ones first)."""
    old = {i.item: i.points for i in before}
    new = {i.item: i.points for i in after}
    out = []
    for name in dict.fromkeys([*old, *new]):
        b, a = old.get(name, 0), new.get(name, 0)
        change = "added" if name not in old else "removed" if name not in new else "changed" if a != b else "unchanged"
        out.append(ItemChange(item=name, before=b, after=a, change=change))
    return out


async def rerun(session: AsyncSession, ctx: Context, *, principal: Principal, evaluation_id: uuid.UUID) -> RerunRead:
    """The same declaration under today's rules and today's certificates, stored, with what changed."""
    row = await session.get(Evaluation, evaluation_id)
    if row is None or not await tenancy.may_act_for(session, principal, row.learner_id):
        raise EvaluationNotFound()
    previous = _row_read(row)
    data = EvaluateIn(learner_id=row.learner_id, scheme=row.scheme, as_of=today(), declared=row.declared)
    ruleset, as_of, result = await _score(session, ctx, data, [])
    current = await _store(session, principal, ruleset, data, as_of, result, rerun_of=row.id)
    return RerunRead(
        previous=previous,
        current=current,
        total_change=current.total - previous.total,
        changes=item_changes(previous.items, current.items),
    )
