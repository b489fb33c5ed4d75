"""Whose learners a university may act for (API.md "Incentives": a university only its own students).

A learner is a university's student when assessment's feed has shown a certificate of theirs issued
by one of that university's bodies, or whose record names the university as their school
(``school_org``, carried by certificate events since inc_0005). Decided only from what incentives
already holds (``certificate_facts``), so no call to assessment per request; a certificate issued
seconds ago counts once the feed follower has read it. Another university's learner is 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.db import Reader, fetch_raw
from services.kit.pages import PageParams, cursor_key
from services.kit.problems import NotFound

from .models import SCHEMA, CertificateFact


def students_of(org: str | None) -> Any:
    """A subquery of the learner ids that are ``org``'s students."""
    return select(CertificateFact.learner_id).where(
        or_(col(CertificateFact.university_org) == org, col(CertificateFact.school_org) == org)
    )


async def is_student_of(session: AsyncSession, org: str | None, learner_id: str) -> bool:
    if org is None:
        return False
    found = await session.exec(
        select(CertificateFact.number)
        .where(
            CertificateFact.learner_id == learner_id,
            or_(col(CertificateFact.university_org) == org, col(CertificateFact.school_org) == org),
        )
        .limit(1)
    )
    return found.first() is not None


async def students_among(session: AsyncSession, org: str, learner_ids: list[str]) -> set[str]:
    """Which of these learners are ``org``'s students, in one query (a batch of evaluations)."""
    found = await session.exec(
        select(CertificateFact.learner_id)
        .where(
            col(CertificateFact.learner_id).in_(set(learner_ids)),
            or_(col(CertificateFact.university_org) == org, col(CertificateFact.school_org) == org),
        )
        .distinct()
    )
    return set(found.all())


async def may_act_for(session: AsyncSession, principal: Principal, learner_id: str) -> bool:
    """Evaluate, simulate, re-run or claim: admin for anyone, a student for themself, a university
    for its own students; nobody else (the platform only reads)."""
    if principal.is_admin or principal.is_learner(learner_id):
        return True
    return principal.is_university and await is_student_of(session, principal.org, learner_id)


async def require_may_act_for(session: AsyncSession, principal: Principal, learner_id: str) -> None:
    """404 (existence is not disclosed) unless :func:`may_act_for`."""
    if not await may_act_for(session, principal, learner_id):
        raise NotFound()


async def may_read(session: AsyncSession, principal: Principal, learner_id: str, org: str | None) -> bool:
    """A stored evaluation or claim: cross-tenant readers, the learner, the university that filed it
    (``org``) or whose student the learner is."""
    if principal.is_learner(learner_id) or principal.may_read_org(org):
        return True
    return principal.is_university and await is_student_of(session, principal.org, learner_id)


def student_of_sql(learner: str, org: str) -> str:
    """:func:`is_student_of` as an SQL condition on placeholders (for reads on the driver connection)."""
    return (
        f"EXISTS (SELECT 1 FROM {SCHEMA}.certificate_facts f WHERE f.learner_id = {learner} "
        f"AND (f.university_org = {org} OR f.school_org = {org}))"
    )


def students_of_sql(org: str) -> str:
    """:func:`students_of` as SQL on a placeholder."""
    return (
        f"SELECT f.learner_id FROM {SCHEMA}.certificate_facts f WHERE f.university_org = {org} OR f.school_org = {org}"
    )


async def newest_first_page(
    reader: Reader,
    *,
    table: str,
    columns: str,
    where: list[str],
    args: list[Any],
    page: PageParams,
    may_sql: str | None = None,
) -> list[Any]:
    """One page of ``table`` newest first (``created_at DESC, id DESC``, the cursor of
    ``kit.pages.newest_first_key``), ``limit + 1`` rows, in one autocommit statement.

    With ``may_sql`` (a university's :func:`student_of_sql`) the same statement decides whether the
    reader may see the list at all: 404 when not, as :func:`require_may_act_for`."""
    after = cursor_key(page, lambda c: (datetime.fromisoformat(c[0]), uuid.UUID(c[1])))
    conds, params = (["ok.may"] if may_sql else []) + where, list(args)
    if after is not None:
        params += list(after)
        conds.append(f"(t.created_at, t.id) < (${len(params) - 1}, ${len(params)})")
    params.append(page.limit + 1)
    select_ = (
        f"SELECT {columns} FROM {SCHEMA}.{table} t WHERE {' AND '.join(conds) or 'true'} "
        f"ORDER BY t.created_at DESC, t.id DESC LIMIT ${len(params)}"
    )
    if may_sql is None:
        return await fetch_raw(reader, select_, *params)
    sql = (
        f"WITH ok AS (SELECT {may_sql} AS may) SELECT ok.may, p.* FROM ok "
        f"LEFT JOIN LATERAL ({select_}) p ON true ORDER BY p.created_at DESC, p.id DESC"
    )
    rows = await fetch_raw(reader, sql, *params)
    if not rows[0]["may"]:
        raise NotFound()
    return [r for r in rows if r["id"] is not None]
