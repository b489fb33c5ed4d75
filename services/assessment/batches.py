"""Batch upload of assessment results (measure 一): check every row, then write once, in bulk."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.audit import record_bulk
from services.kit.auth import Principal
from services.kit.clock import today_in_shanghai
from services.kit.feed import emit
from services.kit.idempotency import claim, complete
from services.kit.pii import Sealer
from services.kit.problems import InvalidInput, NotFound

from .batch_files import ReportRow, ScopeLine, scope_in_force
from .batch_input import RowErrors, Upload, check_shapes
from .bodies import load_owned_body
from .candidates import Identities, candidate_rows, seal_context, upsert_candidates
from .clients import CatalogueClient, LookupKey, OccupationAnswer
from .issuing import Result, random_ids, raw_connection, write_results
from .models import SCHEMA, Batch, Body, Filing
from .rules import FilingView, filing_problem, is_graduating_year, is_pass, needs_review
from .schemas import BatchRead, RecordIn
from .uploads import COLUMNS

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


@dataclass
class Checked:
    """An upload after every check that reads only: shapes, catalogue, filings, rules, duplicates."""

    body: Body
    today: date
    valid: dict[int, RecordIn]
    errors: RowErrors
    answers: dict[LookupKey, OccupationAnswer]
    existing: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    duplicates: set[int] = field(default_factory=set)

    def find_duplicates(self, existing: dict[str, tuple[Any, Any]]) -> None:
        self.existing = existing
        self.duplicates = {i for i, r in self.valid.items() if r.external_id in existing}

    @property
    def rejected(self) -> set[int]:
        return {i for i in self.errors if i not in self.duplicates}

    @property
    def accepted(self) -> list[int]:
        return [i for i in self.valid if i not in self.errors and i not in self.duplicates]


async def check_upload(
    session: AsyncSession, catalogue: CatalogueClient, *, principal: Principal, upload: Upload
) -> Checked:
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
    return Checked(body, today, valid, errors, answers)


async def dry_run_batch(
    session: AsyncSession, catalogue: CatalogueClient, *, principal: Principal, upload: Upload
) -> tuple[dict[str, Any], list[ReportRow]]:
    """Every check of an upload, duplicates included; nothing is written and no number is taken."""
    checked = await check_upload(session, catalogue, principal=principal, upload=upload)
    conn = await raw_connection(session)
    checked.find_duplicates(await _existing(conn, checked.body.id, [r.external_id for r in checked.valid.values()]))
    rows = _row_results(len(upload.records), {}, checked.errors, checked.duplicates, checked.existing, checked.valid)
    counts = _counts(rows)
    answer = {
        "dry_run": True,
        "batch_id": None,
        "body_id": str(checked.body.id),
        "mode": upload.mode,
        # What the real upload would do: all_or_nothing refuses the whole batch over one rejected row.
        "outcome": "would_reject" if upload.mode == "all_or_nothing" and checked.rejected else "would_store",
        "accepted": counts["accepted"],
        "rejected": counts["rejected"],
        "duplicates": counts["duplicate"],
        "rows": rows,
    }
    return answer, _report_rows(rows, lambda r: upload.flat(r["index"]))


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
        stored = await claim(session, SCHEMA, principal=principal, key=idempotency_key, body_hash=body_hash)
        if stored is not None:
            replay = await get_batch(session, principal=principal, batch_id=uuid.UUID(stored[1]["batch_id"]))
            return replay.model_dump(mode="json")
    checked = await check_upload(session, catalogue, principal=principal, upload=upload)
    body, valid, errors, today = checked.body, checked.valid, checked.errors, checked.today
    # One batch per body at a time from here on: duplicate checks and serials see committed work.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"assessment.batch:{body.id}"}
    )
    conn = await raw_connection(session)
    checked.find_duplicates(await _existing(conn, body.id, [r.external_id for r in valid.values()]))
    rejected = checked.rejected
    if upload.mode == "all_or_nothing" and rejected:
        raise BatchRejected(
            f"{len(rejected)} of {len(upload.records)} records were rejected",
            errors=[e for i in sorted(rejected) for e in errors[i]],
        )
    accepted = checked.accepted
    identities = Identities.of((valid[i].candidate.id_number for i in accepted), learner_key=learner_key)
    results = [
        Result(
            record_id=record_id,
            learner_id=identities.by_number[valid[i].candidate.id_number],
            record=valid[i],
            passed=is_pass(valid[i].level, valid[i].theory_score, valid[i].practical_score, valid[i].review_score),
        )
        for i, record_id in zip(accepted, random_ids(len(accepted)), strict=True)
    ]
    by_index = dict(zip(accepted, results, strict=True))
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
        occupations={(k[0], k[1], k[3]): a for k, a in checked.answers.items()},
    )
    rows = _row_results(len(upload.records), by_index, errors, checked.duplicates, checked.existing, valid)
    # Rejected rows are kept as uploaded (sealed: they hold ID numbers) for the report file.
    kept = [
        {
            **r,
            "input": sealer.seal(
                json.dumps(upload.flat(r["index"]), ensure_ascii=False), context=_input_context(batch_id, r["index"])
            ),
        }
        if r["status"] == "rejected"
        else r
        for r in rows
    ]
    answer = await _store_batch(conn, session, batch_id=batch_id, body=body, mode=upload.mode, rows=rows, kept=kept)
    # The batch's rows went in by COPY, which the audit hook does not see: one summary entry.
    await record_bulk(session, SCHEMA, "insert", "batches", str(batch_id), **_counts(rows), body_id=str(body.id))
    if idempotency_key:
        await complete(
            session,
            SCHEMA,
            principal=principal,
            key=idempotency_key,
            status=201,
            body={"batch_id": str(batch_id)},
        )
    await session.commit()
    return answer


def _input_context(batch_id: uuid.UUID | str, index: int) -> bytes:
    return f"batch:{batch_id}:{index}".encode()


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {s: sum(1 for r in rows if r["status"] == s) for s in ("accepted", "rejected", "duplicate")}


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
            r = by_index.get(i)  # none in a dry run: no record id, no number taken
            rows.append(
                {
                    "index": i,
                    "status": "accepted",
                    "record_id": str(r.record_id) if r else None,
                    "certificate_number": r.number if r else None,
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
    kept: list[dict[str, Any]],
) -> dict[str, Any]:
    """Stores the batch and its per-row answer (``kept``: with the rejected rows' sealed input);
    the answer is a plain dict (10,000 rows: no models)."""
    counts = _counts(rows)
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
        json.dumps(kept),
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


def _report_rows(rows: list[dict[str, Any]], cells: Callable[[dict[str, Any]], dict[str, str]]) -> list[ReportRow]:
    return [
        ReportRow(r["index"], r["status"], r.get("certificate_number"), cells(r), r.get("errors") or []) for r in rows
    ]


REPORT_RECORDS = f"""
SELECT r.id, r.external_id, r.occupation_code, r.work_type, r.level, r.exam_date, r.theory_score,
       r.practical_score, r.review_score, r.learner_id, c.id_number_sealed, c.name, c.student_no,
       c.school_org, c.graduation_year, c.major
FROM {SCHEMA}.records r
JOIN {SCHEMA}.candidates c ON c.learner_id = r.learner_id AND c.owner_org = coalesce(r.university_org, '')
WHERE r.id = ANY($1::uuid[])
"""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _stored_cells(row: Any, sealer: Sealer) -> dict[str, str]:
    """A stored record as its upload row; the ID number opened (the reader owns it)."""
    cells = {c: _text(row[c]) for c in COLUMNS if c != "id_number"}
    cells["id_number"] = sealer.open(row["id_number_sealed"], context=seal_context(row["learner_id"]))
    return cells


async def batch_report(
    session: AsyncSession, *, principal: Principal, batch_id: uuid.UUID, sealer: Sealer
) -> list[ReportRow]:
    """The stored batch's rows as uploaded: accepted and duplicate rows from their records, rejected
    rows from their sealed input (owning university, admin)."""
    batch = await session.get(Batch, batch_id)
    if batch is None or not principal.owns_org(batch.university_org):
        raise BatchNotFound()
    ids = [uuid.UUID(r["record_id"]) for r in batch.rows if r.get("record_id")]
    conn = await raw_connection(session)
    stored = {str(row["id"]): _stored_cells(row, sealer) for row in await conn.fetch(REPORT_RECORDS, ids)}

    def cells(r: dict[str, Any]) -> dict[str, str]:
        if r.get("input"):
            kept: dict[str, str] = json.loads(sealer.open(r["input"], context=_input_context(batch_id, r["index"])))
            return kept
        return stored.get(r.get("record_id") or "", {})

    return _report_rows(batch.rows, cells)


async def template_scope(session: AsyncSession, *, principal: Principal, body_id: uuid.UUID) -> list[ScopeLine]:
    """What the body's filings in force today cover, for a template's validation and guide."""
    body = await load_owned_body(session, principal=principal, body_id=body_id)
    filings = (await session.exec(select(Filing).where(Filing.body_id == body.id))).all()
    views = [(f.filing_no, FilingView(f.status, f.valid_from, f.valid_to, tuple(f.scope))) for f in filings]
    return scope_in_force(views, today_in_shanghai())
