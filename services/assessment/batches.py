"""Batch upload of assessment results (measure 一): check every row, then write once, in bulk."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.feed import emit
from services.kit.idempotency import claim, complete
from services.kit.idempotency import scope as idempotency_scope
from services.kit.pii import Sealer
from services.kit.problems import InvalidInput, NotFound

from .batch_input import RowErrors, Upload, check_shapes
from .bodies import load_owned_body
from .candidates import Identities, candidate_rows, upsert_candidates
from .clients import CatalogueClient, LookupKey, OccupationAnswer
from .issuing import Result, raw_connection, write_results
from .models import SCHEMA, Batch, Body, Filing
from .rules import FilingView, filing_problem, is_graduating_year, is_pass, needs_review, today_in_shanghai
from .schemas import BatchRead, RecordIn

MESSAGES = {
    "unknown_occupation": "the occupation code is not in the classification",
    "exam_date_in_future": "the exam date is in the future",
    "no_filing_in_force": "no filing of this body is in force on the exam date",
    "outside_filing_scope": "the body's filings in force do not cover this occupation, work type and level",
    "not_own_student": "an employer body assesses only students of its own university",
    "not_graduating_year": "the candidate is not in the graduating year on the exam date",
    "review_score_required": "levels 2 and 1 need a comprehensive review score",
    "repeated_in_batch": "this external_id appears earlier in the batch",
}
LOC = {
    "unknown_occupation": "occupation_code",
    "exam_date_in_future": "exam_date",
    "no_filing_in_force": "exam_date",
    "outside_filing_scope": "occupation_code",
    "not_own_student": "candidate.school_org",
    "not_graduating_year": "candidate.graduation_year",
    "review_score_required": "review_score",
    "repeated_in_batch": "external_id",
}


class BatchRejected(InvalidInput):
    type_ = "batch-rejected"
    title = "The batch was rejected and nothing was stored"


class BatchNotFound(NotFound):
    type_ = "batch-not-found"
    title = "Batch not found"


def _error(index: int, reason: str) -> dict[str, Any]:
    return {"loc": [index, *LOC[reason].split(".")], "msg": MESSAGES[reason], "type": reason}


def rule_violations(
    rec: RecordIn, *, body: Body, filings: list[FilingView], answer: OccupationAnswer | None, today: date
) -> list[str]:
    """The reasons, in the policy's words, why a well-formed record cannot be accepted."""
    reasons = []
    if answer is None or not answer.exists:
        reasons.append("unknown_occupation")
    if rec.exam_date > today:
        reasons.append("exam_date_in_future")
    problem = filing_problem(filings, rec.exam_date, rec.occupation_code, rec.work_type, rec.level)
    if problem is not None:
        reasons.append(problem)
    if body.kind == "employer":
        if rec.candidate.school_org != body.university_org:
            reasons.append("not_own_student")
        if not is_graduating_year(rec.candidate.graduation_year, rec.exam_date):
            reasons.append("not_graduating_year")
    if needs_review(rec.level) and rec.review_score is None:
        reasons.append("review_score_required")
    return reasons


def check_rules(
    valid: dict[int, RecordIn],
    errors: RowErrors,
    *,
    body: Body,
    filings: list[FilingView],
    answers: dict[LookupKey, OccupationAnswer],
    today: date,
) -> None:
    seen: set[str] = set()
    for i, rec in valid.items():
        reasons = rule_violations(
            rec,
            body=body,
            filings=filings,
            answer=answers.get((rec.occupation_code, rec.level, today, rec.work_type)),
            today=today,
        )
        if rec.external_id in seen:
            reasons.append("repeated_in_batch")
        seen.add(rec.external_id)
        if reasons:
            errors.setdefault(i, []).extend(_error(i, r) for r in reasons)


async def _existing(conn: Any, body_id: uuid.UUID, external_ids: list[str]) -> dict[str, tuple[Any, Any]]:
    rows = await conn.fetch(
        f"SELECT external_id, id, certificate_number FROM {SCHEMA}.records "
        "WHERE body_id = $1 AND external_id = ANY($2::text[])",
        body_id,
        external_ids,
    )
    return {r["external_id"]: (r["id"], r["certificate_number"]) for r in rows}


async def upload_batch(
    session: AsyncSession,
    catalogue: CatalogueClient,
    *,
    principal: Principal,
    upload: Upload,
    sealer: Sealer,
    learner_key: str,
    idempotency_key: str | None,
    body_hash: str,
) -> dict[str, Any]:
    """Checks every row against the filing, graduating-year and score rules; stores what passes."""
    if idempotency_key:
        stored = await claim(
            session, SCHEMA, principal=idempotency_scope(principal), key=idempotency_key, body_hash=body_hash
        )
        if stored is not None:
            replay = await get_batch(session, principal=principal, batch_id=uuid.UUID(stored[1]["batch_id"]))
            return replay.model_dump(mode="json")
    body = await load_owned_body(session, principal=principal, body_id=upload.body_id)
    today = today_in_shanghai()  # the issue date of every certificate in this batch
    valid, errors = check_shapes(upload.records)
    filings = [
        FilingView(f.status, f.valid_from, f.valid_to, tuple(f.scope))
        for f in (await session.exec(select(Filing).where(Filing.body_id == body.id))).all()
    ]
    answers = await catalogue.lookup(
        [(r.occupation_code, r.level, today, r.work_type) for r in valid.values()], cached=False
    )
    check_rules(valid, errors, body=body, filings=filings, answers=answers, today=today)
    # One batch per body at a time from here on: duplicate checks and serials see committed work.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"assessment.batch:{body.id}"}
    )
    conn = await raw_connection(session)
    existing = await _existing(conn, body.id, [r.external_id for r in valid.values()])
    duplicates = {i for i, r in valid.items() if r.external_id in existing}
    rejected = {i for i in errors if i not in duplicates}
    if upload.mode == "all_or_nothing" and rejected:
        raise BatchRejected(
            f"{len(rejected)} of {len(upload.records)} records were rejected",
            errors=[e for i in sorted(rejected) for e in errors[i]],
        )
    identities = Identities.of(
        (valid[i].candidate.id_number for i in valid if i not in errors and i not in duplicates),
        learner_key=learner_key,
    )
    results = [
        Result(
            record_id=uuid.uuid4(),
            learner_id=identities.by_number[r.candidate.id_number],
            record=r,
            passed=is_pass(r.level, r.theory_score, r.practical_score, r.review_score),
        )
        for i, r in valid.items()
        if i not in errors and i not in duplicates
    ]
    by_index = dict(zip([i for i in valid if i not in errors and i not in duplicates], results, strict=True))
    batch_id = uuid.uuid4()
    await upsert_candidates(
        conn, candidate_rows(((r.learner_id, r.record.candidate) for r in results), sealer, body.university_org)
    )
    await write_results(
        session,
        body=body,
        batch_id=batch_id,
        issued_on=today,
        results=results,
        occupations={(k[0], k[1], k[3]): a for k, a in answers.items()},
    )
    rows = _row_results(len(upload.records), by_index, errors, duplicates, existing, valid)
    answer = await _store_batch(conn, session, batch_id=batch_id, body=body, mode=upload.mode, rows=rows)
    if idempotency_key:
        await complete(
            session,
            SCHEMA,
            principal=idempotency_scope(principal),
            key=idempotency_key,
            status=201,
            body={"batch_id": str(batch_id)},
        )
    await session.commit()
    return answer


def _row_results(
    count: int,
    by_index: dict[int, Result],
    errors: RowErrors,
    duplicates: set[int],
    existing: dict[str, tuple[Any, Any]],
    valid: dict[int, RecordIn],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(count):
        if i in duplicates:
            record_id, number = existing[valid[i].external_id]
            rows.append(
                {
                    "index": i,
                    "status": "duplicate",
                    "record_id": str(record_id),
                    "certificate_number": number,
                    "errors": None,
                }
            )
        elif i in errors:
            rows.append(
                {
                    "index": i,
                    "status": "rejected",
                    "record_id": None,
                    "certificate_number": None,
                    "errors": errors[i],
                }
            )
        else:
            r = by_index[i]
            rows.append(
                {
                    "index": i,
                    "status": "accepted",
                    "record_id": str(r.record_id),
                    "certificate_number": r.number,
                    "errors": None,
                }
            )
    return rows


async def _store_batch(
    conn: Any,
    session: AsyncSession,
    *,
    batch_id: uuid.UUID,
    body: Body,
    mode: str,
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    """Stores the batch and its per-row answer; the answer is a plain dict (10,000 rows: no models)."""
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("accepted", "rejected", "duplicate")}
    await conn.execute(
        f"INSERT INTO {SCHEMA}.batches (id, body_id, university_org, mode, status, accepted, rejected, "
        "duplicates, "
        "rows) VALUES ($1, $2, $3, $4, 'completed', $5, $6, $7, $8::jsonb)",
        batch_id,
        body.id,
        body.university_org,
        mode,
        counts["accepted"],
        counts["rejected"],
        counts["duplicate"],
        json.dumps(rows),
    )
    answer = {
        "batch_id": str(batch_id),
        "body_id": str(body.id),
        "mode": mode,
        "accepted": counts["accepted"],
        "rejected": counts["rejected"],
        "duplicates": counts["duplicate"],
        "rows": rows,
    }
    certificates = sum(1 for r in rows if r["status"] == "accepted" and r.get("certificate_number"))
    await emit(
        session,
        SCHEMA,
        "assessment.batch.completed",
        f"batch:{batch_id}",
        {
            "batch_id": str(batch_id),
            "body_id": str(body.id),
            "university_org": body.university_org,
            "mode": mode,
            "accepted": counts["accepted"],
            "rejected": counts["rejected"],
            "duplicates": counts["duplicate"],
            "certificates_issued": certificates,
        },
    )
    return answer


async def get_batch(session: AsyncSession, *, principal: Principal, batch_id: uuid.UUID) -> BatchRead:
    batch = await session.get(Batch, batch_id)
    if batch is None or not principal.owns_org(batch.university_org):
        raise BatchNotFound()
    return BatchRead.model_validate(
        {
            "batch_id": batch.id,
            "body_id": batch.body_id,
            "mode": batch.mode,
            "accepted": batch.accepted,
            "rejected": batch.rejected,
            "duplicates": batch.duplicates,
            "rows": batch.rows,
        }
    )
