"""The append-only credit ledger: written only by INSERT; balance and transcript are derived from it."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from .models import SCHEMA
from .sql import run

_OPEN = text(f"INSERT INTO {SCHEMA}.accounts (learner_id) VALUES (:l) ON CONFLICT DO NOTHING")
_LINK = text(
    f"INSERT INTO {SCHEMA}.account_universities (learner_id, university_org) VALUES (:l, :o) ON CONFLICT DO NOTHING"
)
_LOCK = text(f"SELECT learner_id FROM {SCHEMA}.accounts WHERE learner_id = :l FOR UPDATE")
_APPEND = text(
    f"INSERT INTO {SCHEMA}.ledger_entries (learner_id, kind, credits, outcome_id, conversion_id, programme_id, "
    "rule_id, reason) VALUES (:l, :k, :c, :o, :cv, :p, :r, :why) RETURNING id"
)


async def open_account(session: AsyncSession, learner_id: str, university_org: str | None) -> None:
    """Opens the account on first use; a university that deposits or converts for a learner may read it."""
    await run(session, _OPEN, {"l": learner_id})
    if university_org is not None:
        await run(session, _LINK, {"l": learner_id, "o": university_org})


async def lock_account(session: AsyncSession, learner_id: str) -> None:
    """One conversion (or reversal) per learner at a time: caps and course claims are then exact."""
    await run(session, _LOCK, {"l": learner_id})


async def append(
    session: AsyncSession,
    *,
    learner_id: str,
    kind: str,
    credits: Decimal,
    outcome_id: uuid.UUID,
    reason: str,
    conversion_id: uuid.UUID | None = None,
    programme_id: uuid.UUID | None = None,
    rule_id: uuid.UUID | None = None,
) -> int:
    row = (
        await run(
            session,
            _APPEND,
            {
                "l": learner_id,
                "k": kind,
                "c": credits,
                "o": outcome_id,
                "cv": conversion_id,
                "p": programme_id,
                "r": rule_id,
                "why": reason[:500],
            },
        )
    ).one()
    return int(row[0])
