"""Routes for Verifiable Credentials: the holder's credential, verification, status lists, keys, context."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from services.kit.auth import PrincipalDep, sign_jwt
from services.kit.db import SessionDep
from services.kit.net import client_address

from . import credential_verify, credentials, status_lists, verification
from .deps import ContextDep

router = APIRouter(prefix="/v1", tags=["credentials"])
VC_JWT_MEDIA_TYPE = "application/vc+jwt"
JSON_LD = "application/ld+json"
# Verifiers may reuse a list for a few seconds; a change shows within that. With the ETag a
# verifier revalidates cheaply (304) instead of fetching 32 KB again.
LIST_CACHE = "public, max-age=5, must-revalidate"


@router.get(
    "/certificates/{number}/credential", response_class=Response, responses={200: {"content": {VC_JWT_MEDIA_TYPE: {}}}}
)
async def get_credential(number: str, session: SessionDep, ctx: ContextDep, principal: PrincipalDep) -> Response:
    """Holder only; any other reader gets 404, as for a certificate it may not see."""
    token = await credentials.certificate_credential(
        session,
        principal=principal,
        number=number,
        key=ctx.credential_keys.signing_key(datetime.now(UTC)),
        public_url=ctx.settings.public_url,
    )
    return Response(token, media_type=VC_JWT_MEDIA_TYPE, headers={"Cache-Control": "no-store"})


@router.get(
    "/learners/{learner_id}/clr", response_class=Response, responses={200: {"content": {VC_JWT_MEDIA_TYPE: {}}}}
)
async def get_learner_clr(learner_id: str, session: SessionDep, ctx: ContextDep, principal: PrincipalDep) -> Response:
    """The holder, or their university (its own certificates): a signed CLR 2.0 ``ClrCredential``."""
    now = datetime.now(UTC)
    token = await credentials.learner_clr(
        session,
        principal=principal,
        learner_id=learner_id,
        key=ctx.credential_keys.signing_key(now),
        public_url=ctx.settings.public_url,
        now=now,
        credit_bank=ctx.credit_bank,
    )
    return Response(token, media_type=VC_JWT_MEDIA_TYPE, headers={"Cache-Control": "no-store"})


@router.post("/credentials/verify", response_model=credential_verify.CredentialVerifyAnswer, tags=["public"])
async def verify_credential(
    data: credential_verify.CredentialVerifyIn, request: Request, session: SessionDep, ctx: ContextDep
) -> credential_verify.CredentialVerifyAnswer:
    """Public, rate-limited like ``/verify``: the checks a verifier makes, each pass / warn / fail."""
    # The same per-address bucket as /verify; X-Forwarded-For only from a trusted proxy (issue 11).
    await ctx.verify_limiter.acquire(client_address(request), verification.TooManyVerifications, "slow down")
    return await credential_verify.verify_credential(
        session, data, keys=ctx.credential_keys, public_url=ctx.settings.public_url, now=datetime.now(UTC)
    )


@router.get(
    "/status-lists/{list_id}",
    response_class=Response,
    tags=["public"],
    responses={200: {"content": {VC_JWT_MEDIA_TYPE: {}, "application/json": {}}}, 304: {}},
)
async def get_status_list(
    list_id: str,
    session: SessionDep,
    ctx: ContextDep,
    fmt: Annotated[Literal["jwt", "json"], Query(alias="format")] = "jwt",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Signed as ``vc+jwt``; ``?format=json`` gives the unsigned credential for debugging."""
    now = datetime.now(UTC)
    doc = await status_lists.status_list_credential(
        session, list_id=list_id, public_url=ctx.settings.public_url, issuer=credentials.SERVICE_ISSUER, now=now
    )
    key = ctx.credential_keys.signing_key(now)
    tag = status_lists.etag(doc["credentialSubject"]["encodedList"], f"{fmt}-{key.kid[:8]}")
    headers = {"Cache-Control": LIST_CACHE, "ETag": tag}
    if if_none_match is not None and tag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    if fmt == "json":
        return JSONResponse(doc, headers=headers)
    return Response(sign_jwt(key, doc, typ=credentials.VC_JWT), media_type=VC_JWT_MEDIA_TYPE, headers=headers)


@router.get("/credential-keys", tags=["public"])
async def credential_keys(ctx: ContextDep) -> dict[str, Any]:
    """The JWKS that verifies credentials and status lists: the signing key, the next, the retired."""
    return ctx.credential_keys.jwks()


@router.get(
    f"/contexts/{credentials.CONTEXT_ID}",
    response_class=JSONResponse,
    tags=["public"],
    responses={200: {"content": {JSON_LD: {}}}},
)
async def json_ld_context() -> JSONResponse:
    """The JSON-LD context of the properties our credentials add to VC 2.0 and Open Badges 3.0."""
    return JSONResponse(
        credentials.context_document(), media_type=JSON_LD, headers={"Cache-Control": "public, max-age=86400"}
    )
