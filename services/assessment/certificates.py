"""Certificates: read by number or learner, and suspend / reinstate / revoke with a reason."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
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


async def list_certificates(
    session: AsyncSession, *, principal: Principal, learner_id: str, page: PageParams
) -> Page[CertificateRead]:
    """A learner's certificates; a university sees only those it issued, a student only their own."""
    stmt = select(Certificate).where(Certificate.learner_id == learner_id).order_by(col(Certificate.number))
    if principal.is_student and not principal.is_learner(learner_id):
        return Page(items=[], next_cursor=None)
    scope = principal.org_scope(None)
    if scope is not None:
        stmt = stmt.where(Certificate.university_org == scope)
    if page.after is not None:
        stmt = stmt.where(col(Certificate.number) > str(page.after))
    rows = list((await session.exec(stmt.limit(page.limit + 1))).all())
    candidates = await candidate_facts(session, rows)
    return make_page(
        [certificate_read(principal, c, candidates.get(c.record_id)) for c in rows], page, key=lambda c: c.number
    )


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
