"""Was an occupation at a level in the catalogue on a date? One SQL statement for any batch size.

Rules: an old code is followed to its current code through the alias table; the edition in force
on ``as_of`` answers; a certificate of level L counts when L <= the entry's minimum level (1 is the
highest); an entry narrowed to a work type counts only for that work type. An occupation that was
added to the classification later (``introduced_on``) does not exist before that day.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text

from services.kit.db import Reader, fetch_raw, positional

from .models import SCHEMA
from .schemas import EntryRead, LookupQuery, LookupRead, LookupResult

_LOOKUP = text(f"""
WITH q AS (
  SELECT * FROM unnest(CAST(:codes AS varchar[]), CAST(:levels AS int[]), CAST(:dates AS date[]),
                       CAST(:work_types AS varchar[])) WITH ORDINALITY AS q(code, level, as_of, work_type, n)
)
SELECT q.n, occ.code AS resolved_code, occ.name,
       occ.code IS NOT NULL AND (occ.introduced_on IS NULL OR occ.introduced_on <= q.as_of) AS exists,
       ed.id AS edition_id, en.id AS entry_id, en.work_type, en.min_level, en.industries, en.shortage_level,
       en.reason, en.review_by
FROM q
LEFT JOIN LATERAL (
  SELECT o.code, o.name, o.introduced_on, 0 AS pref FROM {SCHEMA}.occupations o
   WHERE o.classification = :cls AND o.code = q.code
  UNION ALL
  SELECT o.code, o.name, o.introduced_on, 1 FROM {SCHEMA}.occupation_aliases a
    JOIN {SCHEMA}.occupations o ON o.classification = a.classification AND o.code = a.code
   WHERE a.old_code = q.code AND a.classification = :cls
  ORDER BY pref LIMIT 1
) occ ON true
LEFT JOIN LATERAL (
  SELECT e.id FROM {SCHEMA}.editions e
   WHERE e.status <> 'draft' AND e.effective_from <= q.as_of
     AND (e.effective_to IS NULL OR e.effective_to >= q.as_of)
   LIMIT 1
) ed ON true
LEFT JOIN LATERAL (
  SELECT en.* FROM {SCHEMA}.edition_entries en
   WHERE en.edition_id = ed.id AND en.occupation_code = occ.code AND q.level <= en.min_level
     AND (en.work_type IS NULL OR en.work_type = q.work_type)
     AND (occ.introduced_on IS NULL OR occ.introduced_on <= q.as_of)
   ORDER BY en.work_type NULLS FIRST LIMIT 1
) en ON true
ORDER BY q.n""")
_NAMES = ("codes", "levels", "dates", "work_types", "cls")
# The same statement with asyncpg's $n parameters: the hot path runs it on the driver connection.
_LOOKUP_SQL = positional(str(_LOOKUP.text), _NAMES)


async def _run(session: Reader, queries: list[LookupQuery], classification: str) -> list[Any]:
    # A read on the hot path: no transaction of its own, no SQLAlchemy execution (kit.db.fetch_raw).
    return await fetch_raw(
        session,
        _LOOKUP_SQL,
        [q.occupation_code for q in queries],
        [q.level for q in queries],
        [q.as_of for q in queries],
        [q.work_type for q in queries],
        classification,
    )


async def lookup_many(session: Reader, *, queries: list[LookupQuery], classification: str) -> list[LookupResult]:
    """Answers in query order (assessment checks a whole batch of records with one call)."""
    if not queries:
        return []
    rows = await _run(session, queries, classification)
    return [
        LookupResult(
            occupation_code=q.occupation_code,
            level=q.level,
            as_of=q.as_of,
            work_type=q.work_type,
            exists=bool(r["exists"]),
            name=r["name"],
            resolved_code=r["resolved_code"],
            in_catalogue=r["entry_id"] is not None,
            edition_id=r["edition_id"],
        )
        for q, r in zip(queries, rows, strict=True)
    ]


async def lookup_one(
    session: Reader,
    *,
    occupation_code: str,
    level: int,
    as_of: date,
    work_type: str | None,
    classification: str,
) -> LookupRead:
    query = LookupQuery(occupation_code=occupation_code, level=level, as_of=as_of, work_type=work_type)
    (r,) = await _run(session, [query], classification)
    entry = None
    if r["entry_id"] is not None:
        entry = EntryRead(
            id=r["entry_id"],
            edition_id=r["edition_id"],
            occupation_code=r["resolved_code"],
            occupation_name=r["name"],
            work_type=r["work_type"],
            min_level=r["min_level"],
            industries=list(r["industries"]),
            shortage_level=r["shortage_level"],
            reason=r["reason"],
            review_by=r["review_by"],
        )
    return LookupRead(
        occupation_code=occupation_code,
        level=level,
        as_of=as_of,
        exists=bool(r["exists"]),
        name=r["name"],
        resolved_code=r["resolved_code"],
        in_catalogue=entry is not None,
        edition_id=r["edition_id"],
        entry=entry,
    )
