"""Students' tokens from the city's identity provider, exchanged for a skillpass student token.

The app signs the student in at the city's identity provider (IdP) and sends the IdP's ID token
to ``POST /auth/idp-token`` (form ``subject_token=<jwt>``). The gateway checks it against the
IdP's issuer and JWKS (``SKILLPASS_IDP_ISSUER``, ``SKILLPASS_IDP_JWKS_URL``, audience
``SKILLPASS_IDP_AUDIENCE``), reads the resident ID number from the claim named by
``SKILLPASS_IDP_ID_NUMBER_CLAIM`` (default ``id_number``), and answers a short-lived skillpass
token with ``role=student`` and ``sub`` = the ``learner_id``: the same keyed hash of the
normalised ID number that assessment uses, so every service recognises the learner without
ever seeing the number. The number itself is neither stored nor logged.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit.auth import KeySource, mint_token, verify_claims
from services.kit.net import client_address
from services.kit.pii import learner_id, normalise_id_number
from services.kit.problems import Problem

from .clients import TokenResponse
from .deps import context

router = APIRouter(tags=["auth"])


class IdpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_IDP_", extra="ignore")

    issuer: str | None = None
    jwks_url: str | None = None
    audience: str = "skillpass"
    id_number_claim: str = "id_number"
    token_ttl_s: int = 900


class InvalidGrant(Problem):
    type_ = "invalid-grant"
    title = "The identity provider's token is not accepted"
    status = 400

    def body(self) -> dict[str, object]:
        return {**super().body(), "error": "invalid_grant"}


class IdpNotConfigured(Problem):
    type_ = "idp-not-configured"
    title = "No identity provider is configured"
    status = 404


def key_source(request: Request, settings: IdpSettings) -> KeySource:
    source: KeySource | None = getattr(request.app.state, "idp_keys", None)
    if source is None:
        source = request.app.state.idp_keys = KeySource(settings.jwks_url)
    return source


@router.post("/auth/idp-token", response_model=TokenResponse)
async def idp_token(request: Request, subject_token: Annotated[str, Form(max_length=8000)]) -> TokenResponse:
    """An IdP ID token in, a skillpass student token (``sub`` = learner_id) out."""
    settings: IdpSettings = getattr(request.app.state, "idp_settings", None) or IdpSettings()
    if not settings.issuer or not (settings.jwks_url or getattr(request.app.state, "idp_keys", None)):
        raise IdpNotConfigured()
    await context(request).rate_limiter.acquire("idp:" + client_address(request), detail="too many token requests")
    try:
        claims = await verify_claims(
            subject_token, issuer=settings.issuer, audience=settings.audience, source=key_source(request, settings)
        )
    except Problem as exc:
        raise InvalidGrant(exc.detail or "token not accepted") from exc
    raw = claims.get(settings.id_number_claim)
    if not isinstance(raw, str) or len(normalise_id_number(raw)) != 18:
        raise InvalidGrant(f"the token has no usable {settings.id_number_claim!r} claim")
    gw = context(request).settings
    lid = learner_id(raw, gw.shared.learner_id_key)
    token = mint_token(
        context(request).signing_key,
        sub=lid,
        role="student",
        issuer=gw.shared.token_issuer,
        audience=gw.shared.token_audience,
        ttl_s=settings.token_ttl_s,
        extra={"idp_sub": str(claims["sub"])},
    )
    return TokenResponse(access_token=token, expires_in=settings.token_ttl_s)
