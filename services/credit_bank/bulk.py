"""Bulk deposits and conversions for university information systems: one request per batch.

Every rule of the single routes applies to every item (the same checks, the same problem types,
answered per item instead of per request), but the work is set-based: a batch reads what it needs
in a handful of queries, decides the items in order in memory — as if they had been posted one
by one — and writes each table once. Accounts are locked in learner order (no deadlock between two
batches), and the conversions go in with ``ON CONFLICT (outcome_id, programme_id) DO NOTHING``: the
unique constraint still decides a race; a batch that loses one is re-decided from fresh reads.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.feed import emit_many
from services.kit.idempotency import claim, complete, request_hash
from services.kit.problems import Conflict, Problem

from .clients import AssessmentClient, CertificateFacts
from .conversions import (
    AlreadyConverted,
    OutcomeRevoked,
    OutcomeSuspended,
    _check_counts,
    rule_in_force,
)
from .events import CONVERSION_POSTED, CONVERSION_REVERSED, ConversionPosted, ConversionReversed
from .models import SCHEMA, Conversion, ConversionRule, ConvertedCourse, Outcome, Programme
from .outcomes import _OUTCOME_COLUMNS, OutcomeNotFound, _check_shape, check_certificate
from .policy import today_in_shanghai
from .programmes import ProgrammeNotFound
from .schemas import (
    ConversionBatch,
    ConversionBatchRead,
    ConversionBatchRow,
    ConversionCreate,
    ConversionRead,
    ItemProblem,
    OutcomeBatch,
    OutcomeBatchRead,
    OutcomeBatchRow,
    OutcomeRead,
)
from .sql import run

DEPOSITED = "credit_bank.outcome.deposited"


def _problem(exc: Problem) -> ItemProblem:
    return ItemProblem.model_validate(exc.body())


async def _replay(session: AsyncSession, principal: Principal, key: str | None, body: Any) -> tuple[int, Any] | None:
    if not key:
        return None
    return await claim(session, SCHEMA, principal=principal, key=key, body_hash=request_hash(body))


async def _finish(session: AsyncSession, principal: Principal, key: str | None, answer: dict[str, Any]) -> None:
    if key:
        await complete(session, SCHEMA, principal=principal, key=key, status=200, body=answer)
    await session.commit()


# ---------------------------------------------------------------------------------------------- deposits

# Accounts opened, the university linked, new outcomes and their deposit entries: one statement.
_DEPOSIT_MANY = text(
    f"""WITH acct AS (INSERT INTO {SCHEMA}.accounts (learner_id)
                  SELECT DISTINCT l FROM unnest(CAST(:ls AS varchar[])) AS l ORDER BY l ON CONFLICT DO NOTHING),
link AS (INSERT INTO {SCHEMA}.account_universities (learner_id, university_org)
         SELECT DISTINCT l, CAST(:org AS varchar) FROM unnest(CAST(:ls AS varchar[])) AS l
         WHERE CAST(:org AS varchar) IS NOT NULL ORDER BY l ON CONFLICT DO NOTHING),
ins AS (INSERT INTO {SCHEMA}.outcomes (id, learner_id, kind, certificate_number, occupation_code, level, issued_on,
        title, evidence, status, deposited_by)
        SELECT id, l, k, n, occ, lv, issued, title, ev, 'valid', :by
        FROM unnest(CAST(:ids AS uuid[]), CAST(:ls AS varchar[]), CAST(:ks AS varchar[]), CAST(:ns AS varchar[]),
                    CAST(:occs AS varchar[]), CAST(:lvs AS int[]), CAST(:ons AS date[]), CAST(:titles AS varchar[]),
                    CAST(:evs AS jsonb[])) AS u(id, l, k, n, occ, lv, issued, title, ev)
        ON CONFLICT (certificate_number) DO NOTHING RETURNING *),
led AS (INSERT INTO {SCHEMA}.ledger_entries (learner_id, kind, credits, outcome_id, reason)
        SELECT learner_id, 'deposit', 0, id,
               CASE WHEN kind = 'certificate' THEN 'certificate ' || certificate_number || ' deposited'
                    ELSE kind || ' deposited' END
        FROM ins)
SELECT {_OUTCOME_COLUMNS} FROM ins"""
)
_BY_NUMBERS = text(
    f"SELECT {_OUTCOME_COLUMNS} FROM {SCHEMA}.outcomes WHERE certificate_number = ANY(CAST(:ns AS varchar[]))"
)


@dataclass
class _Deposit:
    index: int
    id: uuid.UUID
    learner_id: str
    kind: str
    number: str | None = None
    facts: CertificateFacts | None = None
    title: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def _screen(
    data: OutcomeBatch, facts: dict[str, CertificateFacts | None]
) -> tuple[list[_Deposit], list[OutcomeBatchRow]]:
    """The single route's checks per item: shape, and a certificate that is this learner's and valid."""
    accepted: list[_Deposit] = []
    rejected: list[OutcomeBatchRow] = []
    for index, item in enumerate(data.items):
        try:
            _check_shape(item)
            if item.kind == "certificate":
                number = str(item.certificate_number)
                checked = check_certificate(facts.get(number), item.learner_id, number)
                accepted.append(_Deposit(index, uuid.uuid4(), item.learner_id, "certificate", number, checked))
            else:
                accepted.append(
                    _Deposit(index, uuid.uuid4(), item.learner_id, item.kind, title=item.title, evidence=item.evidence)
                )
        except Problem as exc:
            rejected.append(OutcomeBatchRow(index=index, status="rejected", problem=_problem(exc)))
    return accepted, rejected


def _evidence(d: _Deposit) -> str:
    return json.dumps({"source": "assessment", "checked_status": d.facts.status} if d.facts else d.evidence)


async def _insert_outcomes(
    session: AsyncSession, principal: Principal, inserting: list[_Deposit]
) -> dict[uuid.UUID, OutcomeRead]:
    """The new outcomes (a certificate deposited before is skipped by its unique number), by id."""
    if not inserting:
        return {}
    facts = [d.facts for d in inserting]
    result = await run(
        session,
        _DEPOSIT_MANY,
        {
            "ids": [d.id for d in inserting],
            "ls": [d.learner_id for d in inserting],
            "ks": [d.kind for d in inserting],
            "ns": [d.number for d in inserting],
            "occs": [f.occupation_code if f else None for f in facts],
            "lvs": [f.level if f else None for f in facts],
            "ons": [f.issued_on if f else None for f in facts],
            "titles": [d.title for d in inserting],
            "evs": [_evidence(d) for d in inserting],
            "org": principal.org if principal.is_university else None,
            "by": principal.sub,
        },
    )
    reads = [OutcomeRead.model_validate(dict(r._mapping)) for r in result]
    return {r.outcome_id: r for r in reads}


async def deposit_many(
    session: AsyncSession,
    assessment: AssessmentClient,
    *,
    principal: Principal,
    data: OutcomeBatch,
    idempotency_key: str | None,
) -> tuple[int, dict[str, Any]]:
    """Deposits up to MAX_BATCH_ITEMS outcomes; every certificate is checked with assessment in one call."""
    stored = await _replay(session, principal, idempotency_key, data.model_dump(mode="json"))
    if stored is not None:
        return stored
    numbers = sorted({i.certificate_number for i in data.items if i.kind == "certificate" and i.certificate_number})
    accepted, rejected = _screen(data, await assessment.certificates(numbers) if numbers else {})
    rows = {r.index: r for r in rejected}
    # The same certificate twice in one batch is one outcome: the first item stores it.
    first_of: dict[str, _Deposit] = {}
    inserting = [d for d in accepted if d.number is None or first_of.setdefault(d.number, d) is d]
    # Rows go in sorted (certificate number, then learner), so two batches sharing new certificates or
    # accounts wait on each other in one order and never deadlock.
    inserting.sort(key=lambda d: (d.number or "", d.learner_id))
    created = await _insert_outcomes(session, principal, inserting)
    missing = [d.number for d in inserting if d.id not in created and d.number is not None]
    before: list[OutcomeRead] = []
    if missing:
        before = [
            OutcomeRead.model_validate(dict(r._mapping)) for r in await run(session, _BY_NUMBERS, {"ns": missing})
        ]
    known = {str(o.certificate_number): o for o in [*before, *created.values()] if o.certificate_number}
    for d in accepted:
        if d.id in created:
            rows[d.index] = OutcomeBatchRow(index=d.index, status="deposited", outcome=created[d.id])
        else:
            rows[d.index] = OutcomeBatchRow(index=d.index, status="existing", outcome=known[str(d.number)])
    new = [created[d.id] for d in inserting if d.id in created]
    events = [(DEPOSITED, f"outcome:{o.outcome_id}", o.model_dump(mode="json")) for o in new]
    await emit_many(await session.connection(), SCHEMA, events)
    items = [rows[i] for i in range(len(data.items))]
    answer = OutcomeBatchRead(
        deposited=sum(r.status == "deposited" for r in items),
        existing=sum(r.status == "existing" for r in items),
        rejected=sum(r.status == "rejected" for r in items),
        items=items,
    ).model_dump(mode="json")
    await _finish(session, principal, idempotency_key, answer)
    return 200, answer


# ------------------------------------------------------------------------------------------- conversions

_LOCK_MANY = text(
    f"SELECT learner_id FROM {SCHEMA}.accounts WHERE learner_id = ANY(CAST(:ls AS varchar[])) "
    "ORDER BY learner_id FOR UPDATE"
)
_INSERT_CONVERSIONS = text(
    f"""INSERT INTO {SCHEMA}.conversions (id, learner_id, outcome_id, programme_id, university_org, rule_id,
        occupation_code, level, credits, course_codes, status, reversed_at, reverse_reason)
SELECT id, l, o, p, org, r, occ, lv, c, courses, st, CASE WHEN st = 'reversed' THEN now() END, why
FROM unnest(CAST(:ids AS uuid[]), CAST(:ls AS varchar[]), CAST(:os AS uuid[]), CAST(:ps AS uuid[]),
            CAST(:orgs AS varchar[]), CAST(:rs AS uuid[]), CAST(:occs AS varchar[]), CAST(:lvs AS int[]),
            CAST(:cs AS numeric[]), CAST(:courses AS jsonb[]), CAST(:sts AS varchar[]), CAST(:whys AS varchar[]))
     AS u(id, l, o, p, org, r, occ, lv, c, courses, st, why)
ON CONFLICT (outcome_id, programme_id) DO NOTHING RETURNING id"""
)
_REVERSE_MANY = text(
    f"""UPDATE {SCHEMA}.conversions AS c SET status = 'reversed', reversed_at = now(), reverse_reason = u.why
FROM unnest(CAST(:ids AS uuid[]), CAST(:whys AS varchar[])) AS u(id, why)
WHERE c.id = u.id AND c.status = 'posted' RETURNING c.id"""
)
_FREE_COURSES = text(f"DELETE FROM {SCHEMA}.converted_courses WHERE conversion_id = ANY(CAST(:ids AS uuid[]))")
# The courses the batch's surviving conversions replace, and each university linked to its learners.
_CLAIM_COURSES = text(
    f"""WITH link AS (INSERT INTO {SCHEMA}.account_universities (learner_id, university_org)
         SELECT DISTINCT l, org FROM unnest(CAST(:link_ls AS varchar[]), CAST(:link_orgs AS varchar[])) AS u(l, org)
         ON CONFLICT DO NOTHING)
INSERT INTO {SCHEMA}.converted_courses (learner_id, programme_id, course_code, conversion_id)
SELECT * FROM unnest(CAST(:ls AS varchar[]), CAST(:ps AS uuid[]), CAST(:codes AS varchar[]), CAST(:cvs AS uuid[]))"""
)
# Ledger entries in the order the batch decided them (a replaced conversion's reverse before its successor).
_LEDGER_MANY = text(
    f"""INSERT INTO {SCHEMA}.ledger_entries (learner_id, kind, credits, outcome_id, conversion_id, programme_id,
        rule_id, reason)
SELECT l, k, c, o, cv, p, r, why
FROM unnest(CAST(:ls AS varchar[]), CAST(:ks AS varchar[]), CAST(:cs AS numeric[]), CAST(:os AS uuid[]),
            CAST(:cvs AS uuid[]), CAST(:ps AS uuid[]), CAST(:rs AS uuid[]), CAST(:whys AS varchar[]))
     WITH ORDINALITY AS u(l, k, c, o, cv, p, r, why, n)
ORDER BY n RETURNING id, conversion_id, kind"""
)


class _LostRace(Exception):
    """A concurrent transaction got in between the reads and the writes: decide the batch again."""


class BatchContended(Conflict):
    type_ = "batch-contended"
    title = "Concurrent conversions kept changing this batch's accounts; send it again (same Idempotency-Key)"


@dataclass
class _Plan:
    """What a batch decided, in order: new conversions, reversals, ledger entries and events."""

    rows: dict[int, ConversionBatchRow] = field(default_factory=dict)
    new: list[Conversion] = field(default_factory=list)
    reasons: dict[uuid.UUID, str] = field(default_factory=dict)  # reversed conversion → why
    reversed_stored: list[Conversion] = field(default_factory=list)
    # (kind, conversion, reason) in the order decided
    ledger: list[tuple[str, Conversion, str]] = field(default_factory=list)
    replaced_by: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    converted_at: dict[uuid.UUID, int] = field(default_factory=dict)  # new conversion → item index


def _reject(plan: _Plan, index: int, exc: Problem) -> None:
    plan.rows[index] = ConversionBatchRow(index=index, status="rejected", problem=_problem(exc))


@dataclass
class _State:
    """What a batch reads before deciding: its programmes, outcomes and rules, and per (learner,
    programme) the posted conversions and claimed courses, updated as items are decided."""

    programmes: dict[uuid.UUID, Programme]
    outcomes: dict[uuid.UUID, Outcome]
    rules: dict[str, list[ConversionRule]]
    taken: set[tuple[uuid.UUID, uuid.UUID]]
    posted: dict[tuple[str, uuid.UUID], list[Conversion]]
    claimed: dict[tuple[str, uuid.UUID], dict[str, uuid.UUID]]
    stored_ids: set[uuid.UUID]


async def _read_state(session: AsyncSession, items: list[ConversionCreate]) -> _State:
    """The accounts locked in learner order, then five reads for the whole batch."""
    learners = sorted({i.learner_id for i in items})
    await run(session, _LOCK_MANY, {"ls": learners})
    wanted = {i.programme_id for i in items}
    programmes = {p.id: p for p in (await session.exec(select(Programme).where(col(Programme.id).in_(wanted)))).all()}
    outcome_ids = {i.outcome_id for i in items}
    outcomes = {o.id: o for o in (await session.exec(select(Outcome).where(col(Outcome.id).in_(outcome_ids)))).all()}
    occupations = {o.occupation_code for o in outcomes.values() if o.occupation_code}
    rules: dict[str, list[ConversionRule]] = {}
    rule_stmt = select(ConversionRule).where(
        col(ConversionRule.occupation_code).in_(occupations),
        or_(col(ConversionRule.programme_id).in_(set(programmes)), col(ConversionRule.programme_id).is_(None)),
    )
    for r in (await session.exec(rule_stmt)).all() if occupations else []:
        rules.setdefault(r.occupation_code, []).append(r)
    stored = (
        await session.exec(
            select(Conversion).where(
                col(Conversion.learner_id).in_(learners), col(Conversion.programme_id).in_(set(programmes))
            )
        )
    ).all()
    posted: dict[tuple[str, uuid.UUID], list[Conversion]] = {}
    for c in stored:
        if c.status == "posted":
            posted.setdefault((c.learner_id, c.programme_id), []).append(c)
    claimed: dict[tuple[str, uuid.UUID], dict[str, uuid.UUID]] = {}
    course_stmt = select(ConvertedCourse).where(
        col(ConvertedCourse.learner_id).in_(learners), col(ConvertedCourse.programme_id).in_(set(programmes))
    )
    for cc in (await session.exec(course_stmt)).all():
        claimed.setdefault((cc.learner_id, cc.programme_id), {})[cc.course_code] = cc.conversion_id
    return _State(
        programmes=programmes,
        outcomes=outcomes,
        rules=rules,
        taken={(c.outcome_id, c.programme_id) for c in stored},
        posted=posted,
        claimed=claimed,
        stored_ids={c.id for c in stored},
    )


def _decide_item(state: _State, principal: Principal, item: ConversionCreate) -> tuple[Conversion, list[Conversion]]:
    """The single route's checks, in its order, against the state so far; raises the item's problem.
    Returns the new conversion and the lower-level conversions it replaces."""
    programme = state.programmes.get(item.programme_id)
    if programme is None or not principal.owns_org(programme.university_org):
        raise ProgrammeNotFound()
    outcome = state.outcomes.get(item.outcome_id)
    if outcome is None or outcome.learner_id != item.learner_id:
        raise OutcomeNotFound()
    if outcome.status == "suspended":
        raise OutcomeSuspended(f"certificate {outcome.certificate_number}: {outcome.status_reason or 'suspended'}")
    if outcome.status == "revoked":
        raise OutcomeRevoked(f"certificate {outcome.certificate_number}: {outcome.status_reason or 'revoked'}")
    rule = rule_in_force(state.rules.get(outcome.occupation_code or "", []), programme, outcome, today_in_shanghai())
    if (outcome.id, programme.id) in state.taken:
        raise AlreadyConverted(f"outcome {outcome.id} is already converted for programme {programme.code}")
    pair = (outcome.learner_id, programme.id)
    replaced = _check_counts(
        outcome=outcome,
        rule=rule,
        programme=programme,
        posted=state.posted.setdefault(pair, []),
        claimed_courses=state.claimed.setdefault(pair, {}),
    )
    conversion = Conversion(
        id=uuid.uuid4(),
        learner_id=outcome.learner_id,
        outcome_id=outcome.id,
        programme_id=programme.id,
        university_org=programme.university_org,
        rule_id=rule.id,
        occupation_code=str(outcome.occupation_code),
        level=int(outcome.level or 0),
        credits=rule.credits,
        course_codes=list(rule.course_codes),
        status="posted",
    )
    return conversion, replaced


def _apply(state: _State, plan: _Plan, index: int, conversion: Conversion, replaced: list[Conversion]) -> None:
    """The decided conversion becomes part of the state the next items are checked against."""
    outcome = state.outcomes[conversion.outcome_id]
    programme = state.programmes[conversion.programme_id]
    pair = (conversion.learner_id, conversion.programme_id)
    mine, courses = state.posted[pair], state.claimed[pair]
    why = f"replaced by level {outcome.level} certificate {outcome.certificate_number}"
    for old in replaced:
        plan.reasons[old.id] = why
        plan.ledger.append(("reverse", old, why))
        if old.id in state.stored_ids:
            plan.reversed_stored.append(old)
        else:
            old.status = "reversed"
        mine.remove(old)
        for code in [code for code, owner in courses.items() if owner == old.id]:
            del courses[code]
    mine.append(conversion)
    courses.update(dict.fromkeys(conversion.course_codes, conversion.id))
    state.taken.add((conversion.outcome_id, conversion.programme_id))
    plan.new.append(conversion)
    plan.converted_at[conversion.id] = index
    plan.replaced_by[conversion.id] = [c.id for c in replaced]
    reason = (
        f"{conversion.occupation_code} level {conversion.level} under rule {conversion.rule_id} for {programme.code}"
    )
    plan.ledger.append(("convert", conversion, reason))


async def _decide(session: AsyncSession, principal: Principal, data: ConversionBatch) -> _Plan:
    """Reads what the batch needs (a few queries) and decides its items in order, in memory."""
    state = await _read_state(session, data.items)
    plan = _Plan()
    for index, item in enumerate(data.items):
        try:
            conversion, replaced = _decide_item(state, principal, item)
        except Problem as exc:
            _reject(plan, index, exc)
            continue
        _apply(state, plan, index, conversion, replaced)
    return plan


async def _write(session: AsyncSession, plan: _Plan) -> dict[tuple[uuid.UUID, str], int]:
    """Each table written once; returns the ledger entry ids by (conversion, kind)."""
    if plan.new:
        new = plan.new
        won = await run(
            session,
            _INSERT_CONVERSIONS,
            {
                "ids": [c.id for c in new],
                "ls": [c.learner_id for c in new],
                "os": [c.outcome_id for c in new],
                "ps": [c.programme_id for c in new],
                "orgs": [c.university_org for c in new],
                "rs": [c.rule_id for c in new],
                "occs": [c.occupation_code for c in new],
                "lvs": [c.level for c in new],
                "cs": [c.credits for c in new],
                "courses": [json.dumps(c.course_codes, ensure_ascii=False) for c in new],
                "sts": [c.status for c in new],
                "whys": [plan.reasons.get(c.id) for c in new],
            },
        )
        if len(won.all()) != len(new):
            raise _LostRace()
    if plan.reversed_stored:
        ids = [c.id for c in plan.reversed_stored]
        done = await run(session, _REVERSE_MANY, {"ids": ids, "whys": [plan.reasons[i][:500] for i in ids]})
        if len(done.all()) != len(ids):
            raise _LostRace()
        await run(session, _FREE_COURSES, {"ids": ids})
    surviving = [c for c in plan.new if c.status == "posted"]
    if surviving:
        flat = [(c, code) for c in surviving for code in c.course_codes]
        await run(
            session,
            _CLAIM_COURSES,
            {
                "link_ls": [c.learner_id for c in surviving],
                "link_orgs": [c.university_org for c in surviving],
                "ls": [c.learner_id for c, _ in flat],
                "ps": [c.programme_id for c, _ in flat],
                "codes": [code for _, code in flat],
                "cvs": [c.id for c, _ in flat],
            },
        )
    entries: dict[tuple[uuid.UUID, str], int] = {}
    if plan.ledger:
        led = plan.ledger
        result = await run(
            session,
            _LEDGER_MANY,
            {
                "ls": [c.learner_id for _, c, _ in led],
                "ks": [k for k, _, _ in led],
                "cs": [c.credits if k == "convert" else -c.credits for k, c, _ in led],
                "os": [c.outcome_id for _, c, _ in led],
                "cvs": [c.id for _, c, _ in led],
                "ps": [c.programme_id for _, c, _ in led],
                "rs": [c.rule_id for _, c, _ in led],
                "whys": [why[:500] for _, _, why in led],
            },
        )
        entries = {(r.conversion_id, r.kind): int(r.id) for r in result}
    return entries


def _events(
    plan: _Plan, entries: dict[tuple[uuid.UUID, str], int], reads: dict[uuid.UUID, ConversionRead]
) -> list[tuple[str, str, dict[str, Any]]]:
    out: list[tuple[str, str, dict[str, Any]]] = []
    for kind, c, why in plan.ledger:
        if kind == "convert":
            event: Any = ConversionPosted(
                **reads[c.id].model_dump(),
                university_org=c.university_org,
                occupation_code=c.occupation_code,
                level=c.level,
            )
            out.append((CONVERSION_POSTED, f"conversion:{c.id}", event.model_dump(mode="json")))
        else:
            event = ConversionReversed(
                conversion_id=c.id,
                learner_id=c.learner_id,
                outcome_id=c.outcome_id,
                programme_id=c.programme_id,
                university_org=c.university_org,
                credits=c.credits,
                ledger_entry_id=entries[(c.id, "reverse")],
                reason=why,
            )
            out.append((CONVERSION_REVERSED, f"conversion:{c.id}", event.model_dump(mode="json")))
    return out


async def convert_many(
    session: AsyncSession, *, principal: Principal, data: ConversionBatch, idempotency_key: str | None
) -> tuple[int, dict[str, Any]]:
    """Converts up to MAX_BATCH_ITEMS outcomes, in order, each under the rule in force today."""
    stored = await _replay(session, principal, idempotency_key, data.model_dump(mode="json"))
    if stored is not None:
        return stored
    conn = await session.connection()
    for attempt in range(3):
        savepoint = await conn.begin_nested()
        try:
            plan = await _decide(session, principal, data)
            entries = await _write(session, plan)
        except _LostRace:
            await savepoint.rollback()
            session.expunge_all()
            if attempt == 2:
                raise BatchContended() from None
            continue
        await savepoint.commit()
        break
    reads: dict[uuid.UUID, ConversionRead] = {}
    for c in plan.new:
        reads[c.id] = ConversionRead(
            conversion_id=c.id,
            learner_id=c.learner_id,
            outcome_id=c.outcome_id,
            programme_id=c.programme_id,
            rule_id=c.rule_id,
            credits=c.credits,
            course_codes=list(c.course_codes),
            ledger_entry_id=entries[(c.id, "convert")],
            replaced_conversion_ids=plan.replaced_by[c.id],
        )
        index = plan.converted_at[c.id]
        plan.rows[index] = ConversionBatchRow(index=index, status="converted", conversion=reads[c.id])
    await emit_many(conn, SCHEMA, _events(plan, entries, reads))
    items = [plan.rows[i] for i in range(len(data.items))]
    answer = ConversionBatchRead(
        converted=sum(r.status == "converted" for r in items),
        rejected=sum(r.status == "rejected" for r in items),
        items=items,
    ).model_dump(mode="json")
    await _finish(session, principal, idempotency_key, answer)
    return 200, answer
