"""Accounts, read from the ledger: balance, entries (keyset paged) and the per-programme transcript."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.db import Reader, fetch_raw
from services.kit.pages import Page, PageParams, cursor_key, make_page

from .models import SCHEMA, Account, AccountUniversity, LedgerEntry
from .outcomes import AccountNotFound
from .policy import cap
from .schemas import AccountRead, LedgerEntryRead, Transcript, TranscriptConversion, TranscriptProgramme
from .sql import run

_TOTALS = text(
    f"""SELECT coalesce((SELECT sum(credits) FROM {SCHEMA}.ledger_entries WHERE learner_id = :l), 0) AS balance,
    (SELECT count(*) FROM {SCHEMA}.outcomes WHERE learner_id = :l) AS outcomes,
    (SELECT count(*) FROM {SCHEMA}.conversions WHERE learner_id = :l AND status = 'posted') AS converted"""
)


async def _readable(session: AsyncSession, principal: Principal, learner_id: str) -> bool:
    """Owner, cross-tenant readers, and universities that hold the learner as their student.
    Returns whether the account exists; a reader who may not see it gets 404 either way."""
    exists = await session.get(Account, learner_id) is not None
    if principal.is_learner(learner_id) or principal.reads_all_tenants:
        return exists
    if principal.is_university and exists:
        link = await session.get(AccountUniversity, (learner_id, principal.org))
        if link is not None:
            return True
    raise AccountNotFound()


async def get_account(session: AsyncSession, *, principal: Principal, learner_id: str) -> AccountRead:
    """The balance is the sum of the ledger. A learner's own account before any deposit is empty, not 404."""
    if not await _readable(session, principal, learner_id):
        if not principal.is_learner(learner_id):
            raise AccountNotFound()
        return AccountRead(learner_id=learner_id, balance=Decimal("0.0"), outcomes=0, converted=0)
    row = (await run(session, _TOTALS, {"l": learner_id})).one()
    return AccountRead(
        learner_id=learner_id,
        balance=Decimal(row.balance).quantize(Decimal("0.1")),
        outcomes=int(row.outcomes),
        converted=int(row.converted),
    )


async def list_ledger(
    session: AsyncSession, *, principal: Principal, learner_id: str, page: PageParams
) -> Page[LedgerEntryRead]:
    """Entries in the order they were written."""
    if not await _readable(session, principal, learner_id):
        return Page(items=[], next_cursor=None)
    stmt = select(LedgerEntry).where(LedgerEntry.learner_id == learner_id).order_by(col(LedgerEntry.id))
    after = cursor_key(page, int)
    if after is not None:
        stmt = stmt.where(col(LedgerEntry.id) > after)
    rows = (await session.exec(stmt.limit(page.limit + 1))).all()
    return make_page([LedgerEntryRead.model_validate(r, from_attributes=True) for r in rows], page, key=lambda e: e.id)


# The whole transcript in one autocommit statement on the driver connection (GET /api/me/summary
# composes it: issue 15, B3): whether the account exists, whether the university reading it holds
# the learner, the account's figures and, when it has outcomes, each conversion with its programme
# and outcome (one row each; the account's columns repeat, a lone row when there are none).
_TRANSCRIPT_SQL = f"""
WITH head AS (
  SELECT EXISTS (SELECT 1 FROM {SCHEMA}.accounts WHERE learner_id = $1) AS account_exists,
         $2::varchar IS NOT NULL AND EXISTS (
           SELECT 1 FROM {SCHEMA}.account_universities WHERE learner_id = $1 AND university_org = $2
         ) AS linked,
         coalesce((SELECT sum(credits) FROM {SCHEMA}.ledger_entries WHERE learner_id = $1), 0) AS balance,
         (SELECT count(*) FROM {SCHEMA}.outcomes WHERE learner_id = $1) AS outcomes,
         (SELECT count(*) FROM {SCHEMA}.conversions WHERE learner_id = $1 AND status = 'posted') AS converted
)
SELECT head.*, cv.*
FROM head
LEFT JOIN LATERAL (
  SELECT c.id AS conversion_id, c.outcome_id, c.occupation_code, c.level, c.credits, c.course_codes,
         c.status AS conversion_status, c.posted_at, o.certificate_number, o.status AS outcome_status,
         p.id AS programme_id, p.code, p.name, p.university_org, p.graduation_credits, p.max_converted_ratio
  FROM {SCHEMA}.conversions c
  JOIN {SCHEMA}.programmes p ON p.id = c.programme_id
  JOIN {SCHEMA}.outcomes o ON o.id = c.outcome_id
  WHERE c.learner_id = $1 AND head.account_exists AND head.outcomes > 0
) cv ON true
ORDER BY cv.code, cv.posted_at, cv.conversion_id"""


async def transcript(reader: Reader, *, principal: Principal, learner_id: str) -> Transcript:
    """Per programme: converted credits, the courses they replace, the remaining cap, suspended flags.

    Who may read it is :func:`_readable`'s rule, decided from the statement's first columns: the
    learner (their own account not yet opened is empty, not 404) and cross-tenant readers, a
    university only for a learner it holds; anyone else, or an account that does not exist, 404."""
    org = principal.org if principal.is_university else None
    rows = await fetch_raw(reader, _TRANSCRIPT_SQL, learner_id, org)
    head = rows[0]
    exists = bool(head["account_exists"])
    if principal.is_learner(learner_id) or principal.reads_all_tenants:
        readable = exists
    elif principal.is_university and exists and head["linked"]:
        readable = True
    else:
        raise AccountNotFound()
    if not readable:
        if not principal.is_learner(learner_id):
            raise AccountNotFound()
        return Transcript(learner_id=learner_id, balance=Decimal("0.0"), outcomes=0, converted=0, programmes=[])
    outcomes = int(head["outcomes"])
    grouped: dict[object, list[Any]] = {}
    if outcomes:
        for r in rows:
            if r["conversion_id"] is not None:
                grouped.setdefault(r["programme_id"], []).append(r)
    return Transcript(
        learner_id=learner_id,
        balance=Decimal(head["balance"]).quantize(Decimal("0.1")),
        outcomes=outcomes,
        converted=int(head["converted"]),
        programmes=[_programme_line(items) for items in grouped.values()],
    )


def _programme_line(items: list[Any]) -> TranscriptProgramme:
    """One programme's line from its conversions' rows (each carries the programme's columns)."""
    programme = items[0]
    posted = [r for r in items if r["conversion_status"] == "posted"]
    converted = sum((r["credits"] for r in posted), Decimal("0.0"))
    limit = cap(programme["graduation_credits"], programme["max_converted_ratio"])
    return TranscriptProgramme(
        programme_id=programme["programme_id"],
        code=programme["code"],
        name=programme["name"],
        university_org=programme["university_org"],
        graduation_credits=programme["graduation_credits"],
        cap=limit,
        converted_credits=converted,
        remaining_cap=max(limit - converted, Decimal("0.0")),
        courses=sorted({code for r in posted for code in _codes(r)}),
        flagged=any(r["outcome_status"] == "suspended" for r in posted),
        conversions=[
            TranscriptConversion(
                conversion_id=r["conversion_id"],
                outcome_id=r["outcome_id"],
                certificate_number=r["certificate_number"],
                occupation_code=r["occupation_code"],
                level=r["level"],
                credits=r["credits"],
                course_codes=_codes(r),
                status="posted" if r["conversion_status"] == "posted" else "reversed",
                suspended=r["outcome_status"] == "suspended",
            )
            for r in items
        ],
    )


def _codes(row: Any) -> list[str]:
    """``course_codes`` (jsonb, decoded by the codec SQLAlchemy's asyncpg dialect sets on every connection)."""
    return list(row["course_codes"])
