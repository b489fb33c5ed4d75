"""Skill-subsidy claims (policy 一.4, DOMAIN.md §6): eligibility, exact amounts, the admin's decision.

Eligibility is judged by the ``skill_subsidy`` rule set in force on the claim date, and every
reason a claim fails is listed, not only the first. An eligible claim waits as ``pending`` for
the admin's one decision; assessment's feed later cancels, holds or flags it (see feed_sync).
"""

from __future__ import annotations

import uuid
from calendar import monthrange
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.db import Reader
from services.kit.feed import emit
from services.kit.idempotency import claim as claim_key
from services.kit.idempotency import complete, request_hash
from services.kit.pages import Page, PageParams, make_page, newest_first_key
from services.kit.problems import Conflict, InvalidInput, NotFound, field_error

from . import tenancy
from .clients import Certificate, CertificateNotFound
from .deps import Context
from .events import CLAIM_DECIDED, CLAIM_SUBMITTED, ClaimReason
from .models import SCHEMA, SubsidyClaim
from .points import today
from .rulesets import ruleset_in_force
from .schemas import ClaimIn, ClaimRead, DecisionIn

FEN = Decimal("0.01")
# Claims that hold the occupation+level and count against the yearly limit.
LIVE = ("pending", "held", "approved")


class ClaimNotFound(NotFound):
    type_ = "subsidy-claim-not-found"
    title = "Subsidy claim not found"


class ClaimDecided(Conflict):
    type_ = "subsidy-claim-decided"
    title = "Only a pending claim can be decided, once"


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def graduating_year_of(day: date, academic_year_starts: str = "09-01") -> int:
    """DOMAIN.md §1: the academic year runs 1 September to 31 August; on ``day`` the graduating-year
    students are those graduating in the year that academic year ends."""
    month, dom = (int(p) for p in academic_year_starts.split("-"))
    return day.year + 1 if (day.month, day.day) >= (month, dom) else day.year


def amount_for(rules: dict[str, Any], level: int, in_catalogue: bool) -> Decimal | None:
    """Amount by level, with the catalogue uplift, in exact yuan to the fen (half up)."""
    base = rules["amount_by_level"].get(str(level))
    if base is None:
        return None
    factor = Decimal(1) + (Decimal(rules["catalogue_uplift"]) if in_catalogue else Decimal(0))
    return (Decimal(base) * factor).quantize(FEN, rounding=ROUND_HALF_UP)


def eligibility_reasons(
    rules: dict[str, Any],
    *,
    certificate: Certificate,
    claimed_on: date,
    graduation_year: int | None,
    same_occupation_level: int,
    claims_this_year: int,
) -> list[ClaimReason]:
    """Every reason the claim fails under ``rules`` (empty: eligible). Plain rules, no I/O."""
    reasons: list[ClaimReason] = []
    if certificate.status != "valid":
        reasons.append(ClaimReason(code="certificate_not_valid", message=f"the certificate is {certificate.status}"))
    if str(certificate.level) not in rules["amount_by_level"]:
        reasons.append(ClaimReason(code="level_not_subsidised", message=f"level {certificate.level} has no amount"))
    if rules["graduating_year_only"]:
        on = (
            certificate.issued_on if rules.get("graduating_year_checked_on", "issued_on") == "issued_on" else claimed_on
        )
        expected = graduating_year_of(on, rules.get("academic_year_starts", "09-01"))
        if graduation_year is None:
            reasons.append(
                ClaimReason(code="graduation_year_unknown", message="the learner's graduation year is not known")
            )
        elif graduation_year != expected:
            reasons.append(
                ClaimReason(
                    code="not_graduating_year_student",
                    message=f"on {on.isoformat()} graduating-year students graduate in {expected}, "
                    f"not {graduation_year}",
                )
            )
    deadline = add_months(certificate.issued_on, int(rules["claim_within_months"]))
    if not certificate.issued_on <= claimed_on <= deadline:
        reasons.append(
            ClaimReason(
                code="outside_claim_window", message=f"claims for this certificate close on {deadline.isoformat()}"
            )
        )
    if rules["once_per_occupation_level"] and same_occupation_level > 0:
        reasons.append(
            ClaimReason(code="already_claimed", message="this occupation and level was already claimed by this learner")
        )
    if claims_this_year >= int(rules["max_claims_per_year"]):
        reasons.append(
            ClaimReason(code="yearly_limit_reached", message=f"at most {rules['max_claims_per_year']} claims a year")
        )
    return reasons


class GraduationYearDisagrees(InvalidInput):
    type_ = "graduation-year-disagrees"
    title = "The claim's graduation year disagrees with the certificate's record"


def graduation_year_for(certificate: Certificate, declared: int | None) -> int | None:
    """The graduation year a claim is judged on. Assessment's certificate carries the candidate's
    from its record, and that wins: a claim may still send ``graduation_year`` (older clients do),
    but one that disagrees is 422. Without the record's (a certificate read before assessment
    published it), an employer body's certificate (number letter Y) implies it — such a body
    certifies only its own graduating-year students (一.1) — else the claim's own value counts."""
    if certificate.graduation_year is not None:
        if declared is not None and declared != certificate.graduation_year:
            raise GraduationYearDisagrees(
                errors=[
                    field_error(
                        ["body", "graduation_year"],
                        f"the certificate's record says {certificate.graduation_year}; leave it out or send that",
                    )
                ]
            )
        return certificate.graduation_year
    if declared is None and certificate.number.startswith("Y"):
        return graduating_year_of(certificate.issued_on)
    return declared


def _read(row: SubsidyClaim) -> ClaimRead:
    return _record_read(row.model_dump())


async def _counts(session: AsyncSession, certificate: Certificate, claimed_on: date) -> tuple[int, int]:
    live = col(SubsidyClaim.status).in_(LIVE)
    same = (
        await session.exec(
            select(func.count())
            .select_from(SubsidyClaim)
            .where(
                SubsidyClaim.learner_id == certificate.learner_id,
                SubsidyClaim.occupation_code == certificate.occupation_code,
                SubsidyClaim.level == certificate.level,
                live,
            )
        )
    ).one()
    year = (
        await session.exec(
            select(func.count())
            .select_from(SubsidyClaim)
            .where(
                SubsidyClaim.learner_id == certificate.learner_id,
                live,
                col(SubsidyClaim.claimed_on) >= date(claimed_on.year, 1, 1),
                col(SubsidyClaim.claimed_on) <= date(claimed_on.year, 12, 31),
            )
        )
    ).one()
    return int(same), int(year)


async def submit_claim(
    session: AsyncSession, ctx: Context, *, principal: Principal, data: ClaimIn, idempotency_key: str | None
) -> tuple[int, dict[str, Any]]:
    """Judges and stores a claim (ineligible ones too, with every reason); answers (status, body)."""
    await tenancy.require_may_act_for(session, principal, data.learner_id)
    await session.commit()  # no transaction is held open across the calls to other services
    # Evidence first, outside any transaction: the certificate and its catalogue status on its issue date.
    certificate = await ctx.assessment.certificate(data.certificate_number)
    if certificate.learner_id != data.learner_id:
        raise CertificateNotFound(f"no certificate {data.certificate_number} for this learner")
    graduation_year = graduation_year_for(certificate, data.graduation_year)
    answer = (
        await ctx.catalogue.lookup(
            [(certificate.occupation_code, certificate.level, certificate.issued_on, certificate.work_type)]
        )
    )[(certificate.occupation_code, certificate.level, certificate.issued_on, certificate.work_type)]
    if idempotency_key:
        stored = await claim_key(
            session,
            SCHEMA,
            principal=principal,
            key=idempotency_key,
            body_hash=request_hash(data.model_dump(mode="json")),
        )
        if stored is not None:
            await session.rollback()
            return stored
    claimed_on = today()
    ruleset = await ruleset_in_force(session, scheme="skill_subsidy", on=claimed_on)
    # One learner's claims are judged one at a time: the once-only and yearly rules count live claims.
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("subsidy:" + certificate.learner_id))))
    same, this_year = await _counts(session, certificate, claimed_on)
    reasons = eligibility_reasons(
        ruleset.rules,
        certificate=certificate,
        claimed_on=claimed_on,
        graduation_year=graduation_year,
        same_occupation_level=same,
        claims_this_year=this_year,
    )
    row = SubsidyClaim(
        learner_id=certificate.learner_id,
        certificate_number=certificate.number,
        occupation_code=certificate.occupation_code,
        level=certificate.level,
        issued_on=certificate.issued_on,
        claimed_on=claimed_on,
        ruleset_id=ruleset.id,
        status="ineligible" if reasons else "pending",
        amount=None if reasons else amount_for(ruleset.rules, certificate.level, answer.in_catalogue),
        in_catalogue=answer.in_catalogue,
        edition_id=answer.edition_id,
        reasons=[r.model_dump() for r in reasons],
        org=principal.org if principal.is_university else None,
        requested_by=principal.sub,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    body = _read(row).model_dump(mode="json")
    await emit(session, SCHEMA, CLAIM_SUBMITTED, f"subsidy_claim:{row.id}", body)
    if idempotency_key:
        await complete(session, SCHEMA, principal=principal, key=idempotency_key, status=201, body=body)
    await session.commit()
    return 201, body


async def decide(session: AsyncSession, *, principal: Principal, claim_id: uuid.UUID, data: DecisionIn) -> ClaimRead:
    """The admin approves or rejects a pending claim, once."""
    row = await session.get(SubsidyClaim, claim_id, with_for_update=True)
    if row is None:
        raise ClaimNotFound()
    if row.status != "pending":
        raise ClaimDecided(f"the claim is {row.status}")
    row.status = "approved" if data.decision == "approve" else "rejected"
    row.decided_by, row.decision_reason, row.decided_at = principal.sub, data.reason, datetime.now(UTC)
    session.add(row)
    await session.flush()
    read = _read(row)
    await emit(session, SCHEMA, CLAIM_DECIDED, f"subsidy_claim:{row.id}", read.model_dump(mode="json"))
    await session.commit()
    return read


_CLAIM_COLUMNS = (
    "t.id, t.learner_id, t.certificate_number, t.occupation_code, t.level, t.issued_on, t.claimed_on, t.status, "
    "t.amount, t.in_catalogue, t.edition_id, t.reasons, t.recovery_due, t.ruleset_id, t.decided_at, "
    "t.decision_reason, t.created_at"
)


def _record_read(r: Any) -> ClaimRead:
    """A claim's answer from its columns by name: a driver row (``asyncpg.Record``) or an ORM row's
    ``model_dump()`` (:func:`_read`)."""
    return ClaimRead(
        claim_id=r["id"],
        learner_id=r["learner_id"],
        certificate_number=r["certificate_number"],
        occupation_code=r["occupation_code"],
        level=r["level"],
        issued_on=r["issued_on"],
        claimed_on=r["claimed_on"],
        status=r["status"],
        amount=r["amount"],
        in_catalogue=r["in_catalogue"],
        edition_id=r["edition_id"],
        reasons=[ClaimReason.model_validate(x) for x in r["reasons"]],
        recovery_due=r["recovery_due"],
        ruleset_id=r["ruleset_id"],
        decided_at=r["decided_at"],
        decision_reason=r["decision_reason"],
    )


async def list_claims(
    reader: Reader, *, principal: Principal, learner_id: str | None, page: PageParams
) -> Page[ClaimRead]:
    """Newest first: a student their own, a university those it filed and its own students', admin
    and platform all. A university naming a learner who is not its student is 404. One autocommit
    statement (the gateway's summary composes this list: issue 15, B3)."""
    if principal.is_student:
        if learner_id is not None and not principal.is_learner(learner_id):
            return Page(items=[], next_cursor=None)
        learner_id = principal.sub
    where: list[str] = []
    args: list[Any] = []
    may_sql = None
    if learner_id is not None:
        where, args = ["t.learner_id = $1"], [learner_id]
        if principal.is_university:  # tenancy.require_may_act_for, decided by the same statement
            if principal.org is None:
                raise NotFound()
            args.append(principal.org)
            may_sql = tenancy.student_of_sql("$1", "$2")
    elif principal.is_university:
        where = [f"(t.org = $1 OR t.learner_id IN ({tenancy.students_of_sql('$1')}))"]
        args = [principal.org]
    rows = await tenancy.newest_first_page(
        reader, table="subsidy_claims", columns=_CLAIM_COLUMNS, where=where, args=args, page=page, may_sql=may_sql
    )
    page_of = make_page(rows, page, key=lambda r: newest_first_key(r["created_at"], r["id"]))
    return Page(items=[_record_read(r) for r in page_of.items], next_cursor=page_of.next_cursor)


async def get_claim(session: AsyncSession, *, principal: Principal, claim_id: uuid.UUID) -> ClaimRead:
    row = await session.get(SubsidyClaim, claim_id)
    if row is None or not await tenancy.may_read(session, principal, row.learner_id, row.org):
        raise ClaimNotFound()
    return _read(row)
