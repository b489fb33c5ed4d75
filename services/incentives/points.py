"""Points evaluations (settlement and residence schemes, policy 二): evaluate, simulate, list, re-run.

Skill-certificate points rest only on evidence this service fetches itself: the learner's valid
certificates from assessment and, for each, the catalogue's answer for its issue date. The
request declares the other items; nothing it says about certificates is believed.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.audit import AUDITED_BY_CALLER, AUDITED_ROLES
from services.kit.auth import Principal
from services.kit.db import Reader
from services.kit.feed import emit_many
from services.kit.obs import request_id_var
from services.kit.pages import Page, PageParams, make_page, newest_first_key
from services.kit.problems import Conflict, InvalidInput, NotFound, field_error

from . import engine, tenancy
from .deps import Context
from .events import EVALUATION_RECORDED, EvaluationRecorded
from .models import SCHEMA, Evaluation, RuleSet, metadata
from .rulesets import ruleset_in_force
from .schemas import EvaluateIn, EvaluationRead, HypotheticalCertificate, ItemChange, LineItemRead, RerunRead

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVALUATIONS = metadata.tables[f"{SCHEMA}.evaluations"]


class RuleSetOutdated(Conflict):
    type_ = "ruleset-outdated"
    title = "The rule set in force has a shape the engine does not know"


class EvaluationNotFound(NotFound):
    type_ = "evaluation-not-found"
    title = "Evaluation not found"


@dataclass
class Waited:
    """Seconds one request waited on each other service, and its own total (answered as ``Server-Timing``)."""

    assessment_s: float = 0.0
    catalogue_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def header(self) -> str:
        total = time.perf_counter() - self.started
        return (
            f"assessment;dur={self.assessment_s * 1000:.1f}, catalogue;dur={self.catalogue_s * 1000:.1f}, "
            f"total;dur={total * 1000:.1f}"
        )


def today() -> date:
    return datetime.now(SHANGHAI).date()


class NotOwnStudent(NotFound):
    type_ = "learner-not-found"
    title = "Not a student of this university"


@dataclass(frozen=True)
class Scored:
    data: EvaluateIn
    ruleset: RuleSet
    as_of: date
    result: engine.Score


_Row = tuple[str, str, int, date, str | None, bool]  # number, code, level, issued on, work type, hypothetical


async def _rulesets_checked(
    session: AsyncSession, items: list[EvaluateIn], as_ofs: list[date], *, batch: bool
) -> dict[tuple[str, date], RuleSet]:
    """The rule set in force per (scheme, date), read once each; every declaration checked against its own."""
    rulesets: dict[tuple[str, date], RuleSet] = {}
    errors: list[dict[str, Any]] = []
    for index, (data, as_of) in enumerate(zip(items, as_ofs, strict=True)):
        ruleset = rulesets.get((data.scheme, as_of))
        if ruleset is None:
            ruleset = rulesets[(data.scheme, as_of)] = await ruleset_in_force(session, scheme=data.scheme, on=as_of)
            if not isinstance(ruleset.rules.get("items"), list):  # published before rule sets were schema-checked
                raise RuleSetOutdated(f"rule set {ruleset.id} predates the engine; publish a current version")
        try:
            engine.validate_declared(ruleset.rules, data.declared)
        except InvalidInput as exc:
            if not batch:
                raise
            errors += [{**e, "loc": [index, *e["loc"][1:]]} for e in exc.errors or []]
    if errors:
        raise InvalidInput("declared has unknown fields or options", errors=errors)
    return rulesets


@dataclass
class Gathered:
    """Everything a list of evaluations is scored from, read with one call to each other service:
    the rule set per item, each item's certificate rows and the catalogue's answers for them."""

    items: list[EvaluateIn]
    as_ofs: list[date]
    rulesets: dict[tuple[str, date], RuleSet]
    rows: list[list[_Row]]
    answers: dict[Any, Any]

    def score(self, start: int = 0, stop: int | None = None) -> list[Scored]:
        """Items ``start:stop`` scored by the engine; their certificate rows are let go (a batch
        scores chunk by chunk, so it never holds every evaluation's score at once)."""
        out = []
        for n in range(start, len(self.items) if stop is None else min(stop, len(self.items))):
            data, as_of, mine = self.items[n], self.as_ofs[n], self.rows[n]
            self.rows[n] = []
            facts = [
                engine.CertificateFact(
                    number=number,
                    occupation_code=code,
                    level=lv,
                    issued_on=on,
                    in_catalogue=self.answers[(code, lv, on, wt)].in_catalogue,
                    edition_id=self.answers[(code, lv, on, wt)].edition_id,
                    hypothetical=hypo,
                )
                for number, code, lv, on, wt, hypo in mine
            ]
            ruleset = self.rulesets[(data.scheme, as_of)]
            out.append(Scored(data, ruleset, as_of, engine.score(ruleset.rules, data.declared, facts)))
        return out


async def score_many(
    session: AsyncSession,
    ctx: Context,
    items: list[EvaluateIn],
    *,
    waited: Waited,
    hypothetical: list[HypotheticalCertificate] | None = None,
    students_of: str | None = None,
    batch: bool = False,
) -> list[Scored]:
    """Scores evaluations in memory, asking each other service once for the whole list (:func:`gather`)."""
    gathered = await gather(
        session, ctx, items, waited=waited, hypothetical=hypothetical, students_of=students_of, batch=batch
    )
    return gathered.score()


async def gather(
    session: AsyncSession,
    ctx: Context,
    items: list[EvaluateIn],
    *,
    waited: Waited,
    hypothetical: list[HypotheticalCertificate] | None = None,
    students_of: str | None = None,
    batch: bool = False,
) -> Gathered:
    """What :meth:`Gathered.score` scores from, asking each other service once for the whole list.

    The rule set in force is read once per (scheme, date); then one call to assessment for every
    learner's valid certificates (and the universities they are students of) and one to the
    catalogue for every (occupation, level, issue date) — never one per learner or certificate.
    ``students_of``: every learner must be a student of this university (tenancy.py), else 404 listing them.
    ``batch``: errors are located by the item's index (API.md: in a batch, ``loc`` starts with the row).
    """
    on_today = today()
    as_ofs = [d.as_of or on_today for d in items]
    rulesets = await _rulesets_checked(session, items, as_ofs, batch=batch)
    if students_of is not None:  # the single route's rule (tenancy.py), asked once for the whole batch
        students = await tenancy.students_among(session, students_of, [d.learner_id for d in items])
        strangers = [i for i, d in enumerate(items) if d.learner_id not in students]
        if strangers:
            raise NotOwnStudent(
                f"{len(strangers)} learners are not students of {students_of}",
                errors=[field_error([i, "learner_id"], "no such student of this university") for i in strangers],
            )
    await session.commit()  # no transaction is held open across the calls to other services

    started = time.perf_counter()
    evidence = await ctx.assessment.learners([d.learner_id for d in items])
    waited.assessment_s += time.perf_counter() - started
    rows: list[list[_Row]] = []
    for data, as_of in zip(items, as_ofs, strict=True):
        held = [c for c in evidence[data.learner_id].certificates if c.status == "valid" and c.issued_on <= as_of]
        mine: list[_Row] = [(c.number, c.occupation_code, c.level, c.issued_on, c.work_type, False) for c in held]
        mine += [
            (f"hypothetical-{i + 1}", h.occupation_code, h.level, h.issued_on or as_of, h.work_type, True)
            for i, h in enumerate(hypothetical or [])
        ]
        rows.append(mine)
    del evidence  # the rows hold what scoring needs
    keys = [(code, lv, on, wt) for mine in rows for _, code, lv, on, wt, _ in mine]
    started = time.perf_counter()
    answers = await ctx.catalogue.lookup(keys) if keys else {}
    waited.catalogue_s += time.perf_counter() - started
    return Gathered(items, as_ofs, rulesets, rows, answers)


def _line_items(result: engine.Score) -> list[LineItemRead]:
    # The engine's line items are already JSON-ready (its evidence holds only str, int, bool, None,
    # lists and dicts); revalidating them per evaluation was a sixth of a batch's time (py-spy).
    return [
        LineItemRead.model_construct(item=i.item, points=i.points, rule=i.rule, evidence=i.evidence)
        for i in result.items
    ]


def _read(ruleset: RuleSet, data: EvaluateIn, as_of: date, result: engine.Score, **extra: Any) -> EvaluationRead:
    """The answer, built from values the engine and the request already validated (no second pass)."""
    return EvaluationRead.model_construct(
        id=extra.get("id"),
        learner_id=data.learner_id,
        scheme=data.scheme,
        as_of=as_of,
        total=result.total,
        threshold=result.threshold,
        passes=result.passes,
        ruleset_id=ruleset.id,
        ruleset_version=ruleset.version,
        items=extra.get("items") or _line_items(result),
        declared=data.declared,
        rerun_of=extra.get("rerun_of"),
        created_at=extra.get("created_at"),
    )


def _answer(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as ``EvaluationRead`` serialises it (JSON-ready; a batch answers these as they are)."""
    return {
        "id": str(row["id"]),
        "learner_id": row["learner_id"],
        "scheme": row["scheme"],
        "as_of": row["as_of"].isoformat(),
        "total": row["total"],
        "threshold": row["threshold"],
        "passes": row["passes"],
        "ruleset_id": str(row["ruleset_id"]),
        "ruleset_version": row["ruleset_version"],
        "items": row["items"],
        "declared": row["declared"],
        "rerun_of": str(row["rerun_of"]) if row["rerun_of"] else None,
        "created_at": row["created_at"].isoformat().replace("+00:00", "Z"),  # as pydantic writes UTC
    }


async def store_many(
    session: AsyncSession,
    principal: Principal,
    scored: list[Scored],
    rerun_of: uuid.UUID | None = None,
    *,
    commit: bool = True,
) -> list[dict[str, Any]]:
    """Every evaluation in one multi-row INSERT, their events and audit entries in one more each, in
    one transaction. Answers each as ``EvaluationRead`` would serialise it. ``commit=False``: the
    caller stores more in the same transaction and commits (a batch stored in chunks)."""
    rows: list[dict[str, Any]] = []
    events: list[tuple[str, str, dict[str, Any]]] = []
    org = principal.org if principal.is_university else None
    certificate_items = {
        s.ruleset.id: {i["id"] for i in s.ruleset.rules["items"] if i["kind"] == "certificate"} for s in scored
    }
    for s in scored:
        evaluation_id = uuid.uuid4()
        items = s.result.items
        created_at = datetime.now(UTC)  # the instant, not the transaction's start: newest-first stays exact
        rows.append(
            {
                "id": evaluation_id,
                "learner_id": s.data.learner_id,
                "scheme": s.data.scheme,
                "ruleset_id": s.ruleset.id,
                "ruleset_version": s.ruleset.version,
                "as_of": s.as_of,
                "declared": s.data.declared,
                "total": s.result.total,
                "threshold": s.result.threshold,
                "passes": s.result.passes,
                "items": [{"item": i.item, "points": i.points, "rule": i.rule, "evidence": i.evidence} for i in items],
                "requested_by": principal.sub,
                "org": org,
                "rerun_of": rerun_of,
                "created_at": created_at,
            }
        )
        event = EvaluationRecorded(
            id=str(evaluation_id),
            learner_id=s.data.learner_id,
            scheme=s.data.scheme,
            ruleset_id=s.ruleset.id,
            as_of=s.as_of,
            total=s.result.total,
            threshold=s.result.threshold,
            skill_points=sum(li.points for li in items if li.item in certificate_items[s.ruleset.id]),
            passes=s.result.passes,
            rerun_of=rerun_of,
        )
        events.append((EVALUATION_RECORDED, f"evaluation:{evaluation_id}", event.model_dump(mode="json")))
    if rows:
        # Core, not the ORM's per-object bookkeeping; _audit_inserts writes the per-row entries
        await session.execute(insert(EVALUATIONS), rows, execution_options={AUDITED_BY_CALLER: True})
        await emit_many(session, SCHEMA, events)
        await _audit_inserts(session, principal, rows)
        if commit:
            await session.commit()
    return [_answer(r) for r in rows]


async def _audit_inserts(session: AsyncSession, principal: Principal, rows: list[dict[str, Any]]) -> None:
    """The audit entries the ORM hook (kit/audit.py) wrote one INSERT each when evaluations were
    added one by one, now in one set-based INSERT: same actor, action, entity and row."""
    if not principal.has_role(*AUDITED_ROLES):
        return
    await session.execute(
        text(
            f"INSERT INTO {SCHEMA}.audit_log (actor_sub, actor_role, actor_org, request_id, action, entity, "
            "entity_id, before, after) SELECT :sub, :role, :org, :rid, 'insert', 'evaluations', e, NULL, a "
            "FROM unnest(CAST(:ids AS text[]), CAST(:afters AS jsonb[])) AS t(e, a)"
        ),
        {
            "sub": principal.sub,
            "role": principal.role,
            "org": principal.org,
            "rid": request_id_var.get(),
            "ids": [str(r["id"]) for r in rows],
            "afters": [json.dumps(r, default=str, ensure_ascii=False) for r in rows],
        },
    )


async def evaluate(
    session: AsyncSession, ctx: Context, *, principal: Principal, data: EvaluateIn, waited: Waited | None = None
) -> EvaluationRead:
    """Policy 二: points by the rule set in force on ``as_of``; certificate points from evidence only.

    The same path as a batch of one (points_batch.py)."""
    await tenancy.require_may_act_for(session, principal, data.learner_id)
    scored = await score_many(session, ctx, [data], waited=waited or Waited())
    return EvaluationRead.model_validate((await store_many(session, principal, scored))[0])


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
    (s,) = await score_many(session, ctx, [data], waited=Waited(), hypothetical=hypothetical)
    return _read(s.ruleset, s.data, s.as_of, s.result)


def _row_read(row: Evaluation) -> EvaluationRead:
    return _record_read(row.model_dump())


_EVALUATION_COLUMNS = (
    "t.id, t.learner_id, t.scheme, t.as_of, t.total, t.threshold, t.passes, t.ruleset_id, t.ruleset_version, "
    "t.items, t.declared, t.rerun_of, t.created_at"
)


def _record_read(r: Any) -> EvaluationRead:
    """An evaluation's answer from its columns by name: a driver row (``asyncpg.Record``) or an ORM
    row's ``model_dump()`` (:func:`_row_read`)."""
    return EvaluationRead(
        id=r["id"],
        learner_id=r["learner_id"],
        scheme=r["scheme"],
        as_of=r["as_of"],
        total=r["total"],
        threshold=r["threshold"],
        passes=r["passes"],
        ruleset_id=r["ruleset_id"],
        ruleset_version=r["ruleset_version"],
        items=[LineItemRead.model_validate(i) for i in r["items"]],
        declared=r["declared"],
        rerun_of=r["rerun_of"],
        created_at=r["created_at"],
    )


async def list_evaluations(
    reader: Reader, *, principal: Principal, learner_id: str, page: PageParams
) -> Page[EvaluationRead]:
    """Newest first. A student sees only their own (another's list is empty); a university those of
    its own students (another learner is 404); admin and platform all. One autocommit statement
    (the gateway's summary composes this list: issue 15, B3)."""
    if principal.is_student and not principal.is_learner(learner_id):
        return Page(items=[], next_cursor=None)
    args: list[Any] = [learner_id]
    may_sql = None
    if principal.is_university:  # tenancy.require_may_act_for, decided by the same statement
        if principal.org is None:
            raise NotFound()
        args.append(principal.org)
        may_sql = tenancy.student_of_sql("$1", "$2")
    rows = await tenancy.newest_first_page(
        reader,
        table="evaluations",
        columns=_EVALUATION_COLUMNS,
        where=["t.learner_id = $1"],
        args=args,
        page=page,
        may_sql=may_sql,
    )
    return make_page([_record_read(r) for r in rows], page, key=lambda e: newest_first_key(e.created_at, e.id))


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
    scored = await score_many(session, ctx, [data], waited=Waited())
    (stored,) = await store_many(session, principal, scored, rerun_of=row.id)
    current = EvaluationRead.model_validate(stored)
    return RerunRead(
        previous=previous,
        current=current,
        total_change=current.total - previous.total,
        changes=item_changes(previous.items, current.items),
    )
