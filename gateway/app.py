"""The gateway: tokens, JWKS, client registration, the proxy, rate limits, CORS, docs."""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from services.kit.app import create_service_app
from services.kit.auth import (
    KeySource,
    Principal,
    SigningKey,
    Verifier,
    bearer_token,
    jwks_document,
    require_roles,
)
from services.kit.context import context_of, install_context
from services.kit.db import SessionDep
from services.kit.net import client_address

from . import clients, dashboard, idp, limits, summary, verify, webhooks
from .deps import NAME, Context, ContextDep
from .docs import install_docs
from .proxy import ProxyFastPath, proxy
from .settings import GatewaySettings
from .upstreams import Upstreams

router = APIRouter()
Admin = Annotated[Principal, require_roles("admin")]
Student = Annotated[Principal, require_roles("student")]


class GatewayVerifier(Verifier):
    """The kit's verifier, and a token of a disabled or deleted client is refused at once."""

    def __init__(self, status: clients.ClientStatus, **kw: Any) -> None:
        super().__init__(**kw)
        self.client_status = status

    async def verify(self, token: str) -> Principal:
        principal = await super().verify(token)
        await self.client_status.require_active(principal.client_id)
        return principal


def load_keys(settings: GatewaySettings) -> tuple[SigningKey, list[SigningKey]]:
    if settings.signing_key_pem:
        key = SigningKey.from_pem(settings.signing_key_pem.encode())
    else:
        key = SigningKey.load_or_create(settings.signing_key_path)
    retired = [SigningKey.from_pem(p.read_bytes()) for p in settings.retired_key_paths]
    return key, retired


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return None
    return client_id, secret


@router.post("/auth/token", response_model=clients.TokenResponse, tags=["auth"])
async def token(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str | None, Form(max_length=200)] = None,
    client_secret: Annotated[str | None, Form(max_length=500)] = None,
) -> clients.TokenResponse:
    """OAuth 2.0 client credentials, in the form body or HTTP Basic."""
    # Guessing secrets is throttled per address like any other call.
    await ctx.rate_limiter.acquire("token:" + client_address(request), detail="too many token requests")
    if grant_type != "client_credentials":
        raise clients.UnsupportedGrant()
    basic = _basic_credentials(request)
    cid, secret = basic if basic else (client_id, client_secret)
    if not cid or not secret:
        raise clients.InvalidClient("client_id and client_secret are required")
    s = ctx.settings
    return await clients.issue_token(
        session,
        key=ctx.signing_key,
        client_id=cid,
        client_secret=secret,
        issuer=s.shared.token_issuer,
        audience=s.shared.token_audience,
        ttl_s=s.token_ttl_s,
    )


@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks(ctx: ContextDep) -> JSONResponse:
    keys = [ctx.signing_key, *ctx.retired_keys]
    return JSONResponse(jwks_document(keys), headers={"Cache-Control": "public, max-age=300"})


@router.post("/api/gateway/v1/clients", response_model=clients.ClientCreated, status_code=201, tags=["clients"])
async def create_client(data: clients.ClientCreate, session: SessionDep, _: Admin) -> clients.ClientCreated:
    return await clients.register_client(session, data=data)


@router.get("/api/me/summary", response_model=summary.Summary, tags=["me"])
async def me_summary(request: Request, principal: Student, ctx: ContextDep) -> Response:
    """The student's certificates, credit balance, points and subsidy claims; parts that cannot be
    fetched are listed in ``unavailable`` instead of failing the whole answer. ``Server-Timing``
    gives each part's duration and the total (docs/integration.md)."""
    timings = summary.Timings()
    answer = await summary.summary(
        ctx.upstreams,
        learner_id=principal.sub,
        token=bearer_token(request),
        budget_s=ctx.settings.summary_budget_s,
        timings=timings,
    )
    body = answer.model_dump_json()  # serialised once (response_model stays for the docs)
    headers = {"Server-Timing": timings.header(answer.unavailable)}
    return Response(body, media_type="application/json", headers=headers)


async def _services_ready(app: FastAPI) -> Response:
    settings = context_of(app, NAME, Context).settings

    async def check(name: str, base: str) -> tuple[str, str]:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                resp = await client.get(base.rstrip("/") + "/readyz")
            return name, "ready" if resp.status_code == 200 else f"not ready ({resp.status_code})"
        except httpx.HTTPError:
            return name, "unreachable"

    results = dict(await asyncio.gather(*(check(n, b) for n, b in settings.upstreams().items())))
    ok = all(v == "ready" for v in results.values())
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "services": results}, status_code=200 if ok else 503
    )


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    key, retired = load_keys(settings)
    upstreams = Upstreams(
        settings.upstreams(),
        pool_size=settings.upstream_pool_size,
        timeout_s=settings.upstream_timeout_s,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        lean=settings.upstream_client == "lean",
    )

    # The gateway trusts its own keys directly; it needs no JWKS round trip to itself.
    issuers = {settings.shared.token_issuer: KeySource(static=[k.public_jwk for k in (key, *retired)])}
    if settings.shared.idp_issuer and settings.shared.idp_jwks_url:
        issuers[settings.shared.idp_issuer] = KeySource(settings.shared.idp_jwks_url)

    async def shutdown(app: FastAPI) -> None:
        await webhooks.stop(app)
        await upstreams.close()
        await limits.close_store(context_of(app, NAME, Context).rate_limiter)

    app = create_service_app(
        settings,
        title="skillpass gateway",
        schema="gateway",
        routers=[router, verify.router, webhooks.router, idp.router, dashboard.router],
        with_feed=False,
        on_startup=webhooks.start,
        on_shutdown=shutdown,
        inner_middleware=[(ProxyFastPath, {"services": frozenset(settings.upstreams())})],
        # Proxied bodies stream on unread; the service behind checks them.
        audit_prefix="/api/gateway",
        skip_body_check=lambda path: path.startswith("/api/") and path.split("/", 3)[2] in settings.upstreams(),
        description="The one door: tokens, routing to the services, rate limits.",
        extra_readiness=_services_ready,
    )
    context = Context(
        settings=settings,
        signing_key=key,
        retired_keys=tuple(retired),
        upstreams=upstreams,
        rate_limiter=limits.rate_limit_store(settings, lambda: app.state.sessionmaker),
    )
    install_context(app, NAME, context)
    # A disabled or deleted client's tokens stop working at once (issue 11).
    app.state.verifier = GatewayVerifier(
        clients.ClientStatus(lambda: app.state.sessionmaker), audience=settings.shared.token_audience, issuers=issuers
    )
    app.state.upstreams = upstreams  # what tests close when they ran the app without its lifespan
    install_docs(app, list(settings.upstreams()))
    app.router.routes.append(
        Route("/api/{service}/{rest:path}", proxy, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    return app
