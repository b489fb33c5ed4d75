"""Accounts, read from the ledger: balance, entries (keyset paged) and the per-programme transcript."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.pages import Page, PageParams, cursor_key, make_page

from .models import SCHEMA, Account, AccountUniversity, Conversion, LedgerEntry, Outcome, Programme
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


async def transcript(session: AsyncSession, *, principal: Principal, learner_id: str) -> Transcript:
    """Per programme: converted credits, the courses they replace, the remaining cap, suspended flags."""
    account = await get_account(session, principal=principal, learner_id=learner_id)
    if account.outcomes == 0:
        return Transcript(**account.model_dump(), programmes=[])
    rows = (
        await session.exec(
            select(Conversion, Programme, Outcome)
            .join(Programme, col(Programme.id) == col(Conversion.programme_id))
            .join(Outcome, col(Outcome.id) == col(Conversion.outcome_id))
            .where(Conversion.learner_id == learner_id)
            .order_by(col(Programme.code), col(Conversion.posted_at), col(Conversion.id))
        )
    ).all()
    grouped: dict[object, tuple[Programme, list[tuple[Conversion, Outcome]]]] = {}
    for conversion, programme, outcome in rows:
        grouped.setdefault(programme.id, (programme, []))[1].append((conversion, outcome))
    return Transcript(
        **account.model_dump(),
        programmes=[_programme_line(p, items) for p, items in grouped.values()],
    )


def _programme_line(programme: Programme, items: list[tuple[Conversion, Outcome]]) -> TranscriptProgramme:
    posted = [(c, o) for c, o in items if c.status == "posted"]
    converted = sum((c.credits for c, _ in posted), Decimal("0.0"))
    limit = cap(programme.graduation_credits, programme.max_converted_ratio)
    return TranscriptProgramme(
        programme_id=programme.id,
        code=programme.code,
        name=programme.name,
        university_org=programme.university_org,
        graduation_credits=programme.graduation_credits,
        cap=limit,
        converted_credits=converted,
        remaining_cap=max(limit - converted, Decimal("0.0")),
        courses=sorted({code for c, _ in posted for code in c.course_codes}),
        flagged=any(o.status == "suspended" for _, o in posted),
        conversions=[
            TranscriptConversion(
                conversion_id=c.id,
                outcome_id=c.outcome_id,
                certificate_number=o.certificate_number,
                occupation_code=c.occupation_code,
                level=c.level,
                credits=c.credits,
                course_codes=list(c.course_codes),
                status="posted" if c.status == "posted" else "reversed",
                suspended=o.status == "suspended",
            )
            for c, o in items
        ],
    )
