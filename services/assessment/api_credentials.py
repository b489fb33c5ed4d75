"""Routes for Verifiable Credentials: the holder's credential, status lists, the public keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from services.kit.auth import PrincipalDep, jwks_document, sign_jwt
from services.kit.db import SessionDep

from . import credentials, status_lists
from .deps import ContextDep

router = APIRouter(prefix="/v1", tags=["credentials"])
VC_JWT_MEDIA_TYPE = "application/vc+jwt"
# Verifiers may reuse a list for a few seconds; a change shows within that.
LIST_CACHE = {"Cache-Control": "public, max-age=5"}


@router.get(
    "/certificates/{number}/credential", response_class=Response, responses={200: {"content": {VC_JWT_MEDIA_TYPE: {}}}}
)
async def get_credential(number: str, session: SessionDep, ctx: ContextDep, principal: PrincipalDep) -> Response:
    """Holder only; any other reader gets 404, as for a certificate it may not see."""
    token = await credentials.certificate_credential(
        session, principal=principal, number=number, key=ctx.credential_key, public_url=ctx.settings.public_url
    )
    return Response(token, media_type=VC_JWT_MEDIA_TYPE, headers={"Cache-Control": "no-store"})


@router.get(
    "/status-lists/{list_id}",
    response_class=Response,
    tags=["public"],
    responses={200: {"content": {VC_JWT_MEDIA_TYPE: {}, "application/json": {}}}},
)
async def get_status_list(
    list_id: str,
    session: SessionDep,
    ctx: ContextDep,
    fmt: Annotated[Literal["jwt", "json"], Query(alias="format")] = "jwt",
) -> Response:
    """Signed as ``vc+jwt``; ``?format=json`` gives the unsigned credential for debugging."""
    doc = await status_lists.status_list_credential(
        session,
        list_id=list_id,
        public_url=ctx.settings.public_url,
        issuer=credentials.SERVICE_ISSUER,
        now=datetime.now(UTC),
    )
    if fmt == "json":
        return JSONResponse(doc, headers=LIST_CACHE)
    token = sign_jwt(ctx.credential_key, doc, typ=credentials.VC_JWT)
    return Response(token, media_type=VC_JWT_MEDIA_TYPE, headers=LIST_CACHE)


@router.get("/credential-keys", tags=["public"])
async def credential_keys(ctx: ContextDep) -> dict[str, Any]:
    """The JWKS that verifies credentials and status lists."""
    return jwks_document([ctx.credential_key])
