"""Candidates: ID numbers checked, sealed (AES-GCM) and masked; learner_id is the shared keyed hash."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.kit.pii import Sealer, learner_id, mask_id_number

from .models import Candidate
from .schemas import CandidateIn, CandidateRead

UPSERT = """
INSERT INTO assessment.candidates (learner_id, owner_org, id_number_sealed, id_number_masked, name,
                                   student_no, school_org, graduation_year, major)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::int[], $9::text[])
ON CONFLICT (learner_id, owner_org) DO UPDATE SET name = excluded.name, student_no = excluded.student_no,
    school_org = excluded.school_org, graduation_year = excluded.graduation_year, major = excluded.major,
    updated_at = now()
"""


@dataclass(frozen=True)
class Identities:
    """Per ID number of an upload: its learner_id. Numbers are only held in memory here."""

    by_number: dict[str, str]

    @classmethod
    def of(cls, numbers: Iterable[str], *, learner_key: str) -> Identities:
        return cls({n: learner_id(n, learner_key) for n in set(numbers)})


def seal_context(learner: str) -> bytes:
    # Binds each ciphertext to its row: a sealed number copied onto another learner fails to open.
    return learner.encode()


def candidate_rows(
    candidates: Iterable[tuple[str, CandidateIn]], sealer: Sealer, owner_org: str | None
) -> list[tuple[Any, ...]]:
    """Rows for the upsert, one per learner of this university (the last record of a learner wins)."""
    latest = dict(candidates)
    return [
        (
            lid,
            owner_org or "",
            sealer.seal(c.id_number, context=seal_context(lid)),
            mask_id_number(c.id_number),
            c.name,
            c.student_no,
            c.school_org,
            c.graduation_year,
            c.major,
        )
        for lid, c in latest.items()
    ]


COLUMNS = (
    "learner_id",
    "owner_org",
    "id_number_sealed",
    "id_number_masked",
    "name",
    "student_no",
    "school_org",
    "graduation_year",
    "major",
)
STORED = """
SELECT c.learner_id, c.owner_org FROM assessment.candidates c
JOIN unnest($1::text[], $2::text[]) AS k(learner_id, owner_org) USING (learner_id, owner_org)
"""


async def upsert_candidates(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    """Stores each row's learner of its university, or updates the one stored (``conn`` is the raw
    asyncpg connection, ``rows`` in ``COLUMNS`` order, one per learner and university). Learners
    not stored yet go in by COPY (a batch's new students: 45-90 ms of the upsert against 20-30 ms,
    issue 15, B4), the others by one multi-row upsert."""
    if not rows:
        return
    stored = {
        (r["learner_id"], r["owner_org"]) for r in await conn.fetch(STORED, [r[0] for r in rows], [r[1] for r in rows])
    }
    new = [r for r in rows if (r[0], r[1]) not in stored]
    if new and await copy_new_candidates(conn, new):
        rows = [r for r in rows if (r[0], r[1]) in stored]
    if rows:
        await conn.execute(UPSERT, *(list(col) for col in zip(*rows, strict=True)))


async def copy_new_candidates(conn: Any, rows: list[tuple[Any, ...]]) -> bool:
    """COPY of learners not stored yet. False, with nothing written, when one of them was stored
    in the meantime (an upload for another body of the same university): the caller upserts."""
    try:
        async with conn.transaction():  # a savepoint inside the request's transaction
            await conn.copy_records_to_table("candidates", schema_name="assessment", columns=COLUMNS, records=rows)
    except asyncpg.UniqueViolationError:
        return False
    return True


def candidate_read(candidate: Candidate, *, reveal: bool, sealer: Sealer) -> CandidateRead:
    """The ID number in clear only when ``reveal`` (owning university, admin)."""
    number = (
        sealer.open(candidate.id_number_sealed, context=seal_context(candidate.learner_id))
        if reveal
        else candidate.id_number_masked
    )
    return CandidateRead(
        id_number=number,
        name=candidate.name,
        student_no=candidate.student_no,
        school_org=candidate.school_org,
        graduation_year=candidate.graduation_year,
        major=candidate.major,
    )
