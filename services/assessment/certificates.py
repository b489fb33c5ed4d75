"""Certificates: read by number or learner, and suspend / reinstate / revoke with a reason."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.db import Reader, fetch_raw
from services.kit.feed import emit
from services.kit.pages import Page, PageParams, make_page
from services.kit.pii import mask_name
from services.kit.problems import Conflict, NotFound

from .events import CertificateStatusChanged
from .models import SCHEMA, Certificate
from .schemas import CertificateCheck, CertificateRead

# action → (statuses it may start from, status it leaves, event verb)
TRANSITIONS = {
    "suspend": ({"valid"}, "suspended", "suspended"),
    "reinstate": ({"suspended"}, "valid", "reinstated"),
    "revoke": ({"valid", "suspended"}, "revoked", "revoked"),
}


# The candidate as the certificate's record carried them (each university keeps its own copy).
_CANDIDATES = text(
    f"SELECT r.id, c.graduation_year, c.school_org FROM {SCHEMA}.records r "
    f"JOIN {SCHEMA}.candidates c ON c.learner_id = r.learner_id AND c.owner_org = coalesce(r.university_org, '') "
    "WHERE r.id = ANY(:ids)"
)


class CertificateNotFound(NotFound):
    type_ = "certificate-not-found"
    title = "Certificate not found"


class CertificateStateConflict(Conflict):
    type_ = "certificate-state"
    title = "The certificate cannot make this change from its current status"


def is_holder(principal: Principal, certificate: Certificate) -> bool:
    return principal.is_learner(certificate.learner_id)


def may_read(principal: Principal, certificate: Certificate) -> bool:
    return principal.may_read_learner(certificate.learner_id, certificate.university_org)


async def candidate_facts(session: AsyncSession, certificates: list[Certificate]) -> dict[uuid.UUID, Any]:
    """Per record id: the candidate's ``graduation_year`` and ``school_org`` (one query for a page)."""
    if not certificates:
        return {}
    rows = await session.execute(_CANDIDATES, {"ids": [c.record_id for c in certificates]})
    return {r.id: r for r in rows}


def certificate_read(principal: Principal, certificate: Certificate, candidate: Any = None) -> CertificateRead:
    """The holder's name in clear only for the holder, the owning university and admin."""
    reveal = is_holder(principal, certificate) or principal.owns_org(certificate.university_org)
    return CertificateRead.model_validate(
        {
            **certificate.model_dump(),
            "holder_name": certificate.holder_name if reveal else mask_name(certificate.holder_name),
            "graduation_year": candidate.graduation_year if candidate is not None else None,
        }
    )


def event_data(certificate: Certificate, candidate: Any = None) -> CertificateStatusChanged:
    return CertificateStatusChanged(
        number=certificate.number,
        learner_id=certificate.learner_id,
        occupation_code=certificate.occupation_code,
        occupation_name=certificate.occupation_name,
        work_type=certificate.work_type,
        level=certificate.level,
        body_id=certificate.body_id,
        university_org=certificate.university_org,
        issued_on=certificate.issued_on,
        in_catalogue_on_issue=certificate.in_catalogue_on_issue,
        edition_id=certificate.edition_id,
        status=certificate.status,
        reason=certificate.status_reason,
        holder_name_masked=mask_name(certificate.holder_name),
        graduation_year=candidate.graduation_year if candidate is not None else None,
        school_org=candidate.school_org if candidate is not None else None,
    )


async def get_certificate(session: AsyncSession, *, principal: Principal, number: str) -> CertificateRead:
    certificate = await session.get(Certificate, number)
    if certificate is None or not may_read(principal, certificate):
        raise CertificateNotFound()
    candidates = await candidate_facts(session, [certificate])
    return certificate_read(principal, certificate, candidates.get(certificate.record_id))


async def check_certificates(session: AsyncSession, *, numbers: list[str]) -> list[CertificateCheck]:
    """Many certificates' status and holder in one query, for a service (the credit bank's bulk
    deposits); one answer per number asked, in order, ``found: false`` for an unknown one."""
    rows = (await session.exec(select(Certificate).where(col(Certificate.number).in_(set(numbers))))).all()
    by_number = {c.number: c for c in rows}
    out = []
    for number in numbers:
        c = by_number.get(number)
        out.append(
            CertificateCheck(number=number, found=False)
            if c is None
            else CertificateCheck(
                number=number,
                found=True,
                learner_id=c.learner_id,
                occupation_code=c.occupation_code,
                level=c.level,
                issued_on=c.issued_on,
                status=c.status,
                status_reason=c.status_reason,
            )
        )
    return out


# A learner's certificates with each one's candidate facts, one page (``limit + 1`` rows), in one
# autocommit statement on the driver connection (GET /api/me/summary composes this list: issue 15, B3).
_LIST_SQL = f"""
SELECT c.number, c.learner_id, c.holder_name, c.university_org, c.occupation_code, c.occupation_name,
       c.work_type, c.level, c.body_id, c.issued_on, c.status, c.status_reason, c.in_catalogue_on_issue,
       cand.graduation_year
FROM {SCHEMA}.certificates c
LEFT JOIN {SCHEMA}.records r ON r.id = c.record_id
LEFT JOIN {SCHEMA}.candidates cand ON cand.learner_id = r.learner_id AND cand.owner_org = coalesce(r.university_org, '')
WHERE c.learner_id = $1 AND ($2::varchar IS NULL OR c.university_org = $2) AND ($3::varchar IS NULL OR c.number > $3)
ORDER BY c.number
LIMIT $4"""


async def list_certificates(
    reader: Reader, *, principal: Principal, learner_id: str, page: PageParams
) -> Page[CertificateRead]:
    """A learner's certificates; a university sees only those it issued, a student only their own."""
    if principal.is_student and not principal.is_learner(learner_id):
        return Page(items=[], next_cursor=None)
    scope = principal.org_scope(None)
    after = None if page.after is None else str(page.after)
    rows = await fetch_raw(reader, _LIST_SQL, learner_id, scope, after, page.limit + 1)
    items = []
    for r in rows:
        reveal = principal.is_learner(r["learner_id"]) or principal.owns_org(r["university_org"])
        items.append(
            CertificateRead(
                number=r["number"],
                learner_id=r["learner_id"],
                holder_name=r["holder_name"] if reveal else mask_name(r["holder_name"]),
                occupation_code=r["occupation_code"],
                occupation_name=r["occupation_name"],
                work_type=r["work_type"],
                level=r["level"],
                body_id=r["body_id"],
                issued_on=r["issued_on"],
                status=r["status"],
                status_reason=r["status_reason"],
                in_catalogue_on_issue=r["in_catalogue_on_issue"],
                graduation_year=r["graduation_year"],
            )
        )
    return make_page(items, page, key=lambda c: c.number)


async def change_status(
    session: AsyncSession, *, principal: Principal, number: str, action: str, reason: str
) -> CertificateRead:
    """Suspend / reinstate (owning university or admin) or revoke (admin); each change is an event."""
    certificate = (
        await session.exec(select(Certificate).where(Certificate.number == number).with_for_update())
    ).first()
    if certificate is None or not principal.owns_org(certificate.university_org):
        raise CertificateNotFound()
    allowed_from, to_status, verb = TRANSITIONS[action]
    if certificate.status not in allowed_from:
        raise CertificateStateConflict(f"a {certificate.status} certificate cannot be {verb}")
    certificate.status, certificate.status_reason = to_status, reason
    session.add(certificate)
    await session.flush()
    candidate = (await candidate_facts(session, [certificate])).get(certificate.record_id)
    data = event_data(certificate, candidate).model_dump(mode="json")
    await emit(session, SCHEMA, f"assessment.certificate.{verb}", f"certificate:{number}", data)
    await session.commit()
    return certificate_read(principal, certificate, candidate)
