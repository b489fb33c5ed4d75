"""The write path of results: serials from the counter table, then COPY of records and certificates.

Serials: one counter row per (body sequence, issue year, level), bumped by the batch's pass count
with ``INSERT .. ON CONFLICT DO UPDATE .. RETURNING``. The row lock is held to commit, so a
concurrent batch waits and continues after the last number taken; a rolled-back batch leaves the
counter as it was, so committed numbers have no gaps.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.pii import mask_name
from services.kit.problems import Conflict

from .clients import OccupationAnswer
from .events import CERTIFICATE_ISSUED, CertificateEvent
from .models import SCHEMA, Body
from .rules import certificate_number
from .schemas import RecordIn

RECORD_COLUMNS = (
    "id",
    "batch_id",
    "body_id",
    "university_org",
    "external_id",
    "learner_id",
    "occupation_code",
    "work_type",
    "level",
    "exam_date",
    "theory_score",
    "practical_score",
    "review_score",
    "passed",
    "certificate_number",
)
CERTIFICATE_COLUMNS = (
    "number",
    "record_id",
    "learner_id",
    "holder_name",
    "university_org",
    "body_id",
    "occupation_code",
    "occupation_name",
    "work_type",
    "level",
    "issued_on",
    "status",
    "in_catalogue_on_issue",
    "edition_id",
)
# The national format has six digits of serial per body, year and level.
SERIAL_LIMIT = 1_000_000


class SerialsExhausted(Conflict):
    type_ = "certificate-serials-exhausted"
    title = "The body has no certificate serials left for this level and year"


BUMP = text(
    f"INSERT INTO {SCHEMA}.certificate_serials (body_sequence, issue_year, level, next_serial) "
    "VALUES (:s, :y, :l, 1 + :n) ON CONFLICT (body_sequence, issue_year, level) "
    "DO UPDATE SET next_serial = certificate_serials.next_serial + :n RETURNING next_serial"
)


async def raw_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction, for COPY and array parameters."""
    conn = (await (await session.connection()).get_raw_connection()).driver_connection
    if conn is None:
        raise RuntimeError("the session has no driver connection")
    return conn


def random_ids(n: int) -> list[str]:
    """``n`` random (version 4) UUIDs as text, from one read of the OS's random source: ``uuid4()``
    per record, a system call and a ``UUID`` object each, was a tenth of a 5,000-record batch's
    CPU (issue 15, B4). asyncpg writes the text to uuid columns as it would the object."""
    h = os.urandom(16 * n).hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
        f"{_VARIANT[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


@dataclass
class Result:
    """An accepted record about to be written; ``number`` is set when it passed."""

    record_id: uuid.UUID | str
    learner_id: str
    record: RecordIn
    passed: bool
    number: str | None = None


async def allocate_serials(
    session: AsyncSession, *, body_sequence: int, issue_year: int, counts: Counter[int]
) -> dict[int, int]:
    """First serial of each level's block; levels in a fixed order so batches never deadlock."""
    firsts: dict[int, int] = {}
    for level in sorted(counts):
        n = counts[level]
        after = (
            await session.execute(BUMP, {"s": body_sequence, "y": issue_year % 100, "l": level, "n": n})
        ).scalar_one()
        firsts[level] = int(after) - n
    return firsts


def certificate_event(
    number: str, result: Result, body: Body, issued_on: date, answer: OccupationAnswer | None
) -> CertificateEvent:
    """What the catalogue, credit bank and incentives consume; never a raw ID number or full name."""
    r = result.record
    return CertificateEvent(
        number=number,
        learner_id=result.learner_id,
        occupation_code=r.occupation_code,
        occupation_name=answer.name if answer else None,
        work_type=r.work_type,
        level=r.level,
        body_id=body.id,
        university_org=body.university_org,
        issued_on=issued_on,
        in_catalogue_on_issue=bool(answer and answer.in_catalogue),
        edition_id=answer.edition_id if answer else None,
        status="valid",
        holder_name_masked=mask_name(r.candidate.name),
        graduation_year=r.candidate.graduation_year,
        school_org=r.candidate.school_org,
    )


async def write_results(
    session: AsyncSession,
    *,
    body: Body,
    batch_id: uuid.UUID,
    issued_on: date,
    results: list[Result],
    occupations: dict[tuple[str, int, str | None], OccupationAnswer],
) -> None:
    """Numbers the passes, COPYs records and certificates, and emits one issued event per certificate."""
    passes = [r for r in results if r.passed]
    firsts = await allocate_serials(
        session,
        body_sequence=int(body.sequence or 0),
        issue_year=issued_on.year,
        counts=Counter(r.record.level for r in passes),
    )
    for r in passes:
        level = r.record.level
        if firsts[level] >= SERIAL_LIMIT:
            raise SerialsExhausted(
                f"body {body.sequence} has used all {SERIAL_LIMIT - 1} serials of level {level} in {issued_on.year}"
            )
        r.number = certificate_number(body.kind, int(body.sequence or 0), issued_on.year, level, firsts[level])
        firsts[level] += 1
    conn = await raw_connection(session)
    # Rows as generators: asyncpg encodes them into its COPY buffer as they come, so a batch's rows
    # are never all held as tuples at once (issue 15, B4: the assessment process's peak memory).
    await conn.copy_records_to_table(
        "records",
        schema_name=SCHEMA,
        columns=RECORD_COLUMNS,
        records=(
            (
                r.record_id,
                batch_id,
                body.id,
                body.university_org,
                r.record.external_id,
                r.learner_id,
                r.record.occupation_code,
                r.record.work_type,
                r.record.level,
                r.record.exam_date,
                r.record.theory_score,
                r.record.practical_score,
                r.record.review_score,
                r.passed,
                r.number,
            )
            for r in results
        ),
    )
    if not passes:
        return

    def answer_of(r: Result) -> OccupationAnswer | None:
        return occupations.get((r.record.occupation_code, r.record.level, r.record.work_type))

    await conn.copy_records_to_table(
        "certificates",
        schema_name=SCHEMA,
        columns=CERTIFICATE_COLUMNS,
        records=(
            (
                r.number,
                r.record_id,
                r.learner_id,
                r.record.candidate.name,
                body.university_org,
                body.id,
                r.record.occupation_code,
                answer.name if answer else None,
                r.record.work_type,
                r.record.level,
                issued_on,
                "valid",
                bool(answer and answer.in_catalogue),
                answer.edition_id if answer else None,
            )
            for r, answer in ((r, answer_of(r)) for r in passes)
        ),
    )
    # Validated and encoded by pydantic in one step: model_dump + json.dumps per event was a
    # third of this function's CPU at 5,000 certificates (issue 15, B4).
    await copy_events(
        conn,
        (
            (
                CERTIFICATE_ISSUED,
                f"certificate:{r.number}",
                certificate_event(str(r.number), r, body, issued_on, answer_of(r)).model_dump_json(),
            )
            for r in passes
        ),
    )


async def copy_events(conn: Any, events: Iterable[tuple[str, str, dict[str, Any] | str]]) -> None:
    """The outbox rows of ``emit_many``, written with COPY: at 10,000 certificates a batch the
    unnest INSERT was the slowest step. ``txid`` and ``id`` still come from the column defaults,
    in column order, so the feed's (txid, id) ordering holds as for ``emit_many``. ``data`` is a
    dict, or its JSON text already (a list, or a generator: asyncpg encodes as it iterates)."""
    if isinstance(events, list) and not events:
        return
    await conn.copy_records_to_table(
        "events",
        schema_name=SCHEMA,
        columns=("type", "subject", "data"),
        records=((t, s, d if isinstance(d, str) else json.dumps(d, ensure_ascii=False)) for t, s, d in events),
    )
