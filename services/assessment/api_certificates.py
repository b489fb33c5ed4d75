"""Routes for certificates and the public verification."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from services.kit.auth import Principal, PrincipalDep, require_roles
from services.kit.db import ReaderDep, SessionDep, reader_of
from services.kit.net import client_address
from services.kit.pages import Page, PageDep

from . import certificates, learner_certificates, verification
from .deps import ContextDep
from .schemas import CertificateCheckAnswer, CertificateCheckIn, CertificateRead, ReasonIn, VerifyAnswer

router = APIRouter(prefix="/v1", tags=["certificates"])
Admin = Annotated[Principal, require_roles("admin")]
AdminOrUniversity = Annotated[Principal, require_roles("admin", "university")]
ListReader = Annotated[Principal, require_roles("admin", "university", "student", "service")]
Service = Annotated[Principal, require_roles("service")]
Number = Annotated[str, Query(min_length=1, max_length=40)]


@router.post("/certificates/check", response_model=CertificateCheckAnswer)
async def check_certificates(
    data: CertificateCheckIn, session: SessionDep, principal: Service
) -> CertificateCheckAnswer:
    """Status and holder of up to 1,000 certificates in one call, for services (the credit bank's
    bulk deposits check every certificate of a batch at once). Reads only."""
    return CertificateCheckAnswer(certificates=await certificates.check_certificates(session, numbers=data.numbers))


@router.get("/certificates/{number}", response_model=CertificateRead)
async def get_certificate(number: str, session: SessionDep, principal: PrincipalDep) -> CertificateRead:
    return await certificates.get_certificate(session, principal=principal, number=number)


@router.get("/certificates", response_model=Page[CertificateRead])
async def list_certificates(
    request: Request,
    principal: ListReader,
    page: PageDep,
    learner_id: Annotated[str, Query(max_length=40)],
) -> Response:
    # No ORM session and one serialisation (GET /api/me/summary composes this list: issue 15, B3);
    # the reader straight from the app, not one more dependency to solve.
    answer = await certificates.list_certificates(
        reader_of(request.app), principal=principal, learner_id=learner_id, page=page
    )
    return Response(answer.model_dump_json(), media_type="application/json")


@router.post(
    "/certificates/of-learners",
    response_model=learner_certificates.LearnersCertificatesRead,
    summary=f"Many learners' certificates in one call (service role, up to {learner_certificates.MAX_LEARNERS:,})",
)
async def certificates_of_learners(
    data: learner_certificates.LearnersCertificatesIn, reader: ReaderDep, _: Service
) -> learner_certificates.LearnersCertificatesRead:
    return await learner_certificates.certificates_of_learners(reader, data)


# Registered before "{action}": that path would match "revoke" and answer 422.
@router.post("/certificates/{number}/revoke", response_model=CertificateRead)
async def revoke_certificate(number: str, data: ReasonIn, session: SessionDep, principal: Admin) -> CertificateRead:
    return await certificates.change_status(
        session, principal=principal, number=number, action="revoke", reason=data.reason
    )


@router.post("/certificates/{number}/{action}", response_model=CertificateRead)
async def change_certificate(
    number: str,
    action: Literal["suspend", "reinstate"],
    data: ReasonIn,
    session: SessionDep,
    principal: AdminOrUniversity,
) -> CertificateRead:
    return await certificates.change_status(
        session, principal=principal, number=number, action=action, reason=data.reason
    )


@router.get("/verify", response_model=VerifyAnswer, tags=["public"])
async def verify(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    number: Number,
    name: Annotated[str, Query(min_length=1, max_length=100)],
) -> VerifyAnswer:
    # The client as the gateway saw it; X-Forwarded-For from anyone but a trusted proxy is ignored.
    await ctx.verify_limiter.acquire(client_address(request), verification.TooManyVerifications, "slow down")
    return await verification.verify(session, number=number, name=name)
