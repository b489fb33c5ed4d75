"""The app factory every service uses: logging, request ids, problems, health, metrics, feed."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from .audit import audit_router
from .auth import Verifier, verifier_from_settings
from .db import make_engine, make_sessionmaker
from .feed import feed_router
from .guards import InputGuard
from .net import TrustedProxies
from .obs import Metrics, RequestContextMiddleware, configure_logging
from .openapi import install_problem_docs
from .problems import PayloadTooLarge, install_problem_handlers, problem_response
from .settings import ServiceSettings

log = logging.getLogger("skillpass.app")
MIGRATIONS_ROOT = Path(__file__).resolve().parents[2] / "migrations"


def alembic_head(schema: str) -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_ROOT / schema))
    return ScriptDirectory.from_config(cfg).get_current_head()


class BodySizeLimit:
    """413 before reading a body whose declared or streamed size passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await problem_response(PayloadTooLarge(f"body over {self.max_bytes} bytes"))(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(f"body over {self.max_bytes} bytes")
            return message

        await self.app(scope, counting_receive, send)


def _no_builtin_telemetry() -> dict[str, Any]:
    """FastAPI's ``telemetry`` switch, where this FastAPI has one (newer releases do)."""
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def freeze_startup_heap() -> None:
    """Moves what start-up built (modules, routes, schemas, pools: ~180,000 objects) out of the
    cyclic garbage collector's reach. Each full collection walked that heap too: in assessment a
    5,000-record batch set one off about every other batch, ~120 ms of CPU each, a third of the
    batch's own (issue 15, B4), and on any service such a pause lands on some request's latency.
    Those objects live as long as the process; what requests allocate is collected as before."""
    gc.collect()
    gc.freeze()


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    schema: str,
    routers: Sequence[APIRouter],
    description: str = "",
    on_startup: Callable[[FastAPI], Any] | None = None,
    on_shutdown: Callable[[FastAPI], Any] | None = None,
    with_feed: bool = True,
    docs: bool = False,
    inner_middleware: Sequence[tuple[Any, dict[str, Any]]] = (),
    extra_readiness: Callable[[FastAPI], Awaitable[Response]] | None = None,
    verifier: Verifier | None = None,
    skip_body_check: Callable[[str], bool] | None = None,
    audit_prefix: str = "",
    shutdown_timeout_s: float = 10.0,
) -> FastAPI:
    """``extra_readiness`` answers ``/readyz`` once the service's own check passed (the gateway
    asks its upstreams); ``verifier`` replaces the one built from the shared settings."""
    configure_logging(settings.name, settings.shared.log_level)
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await warn_connection_budget(app)
        if on_startup is not None:
            await on_startup(app)
        freeze_startup_heap()
        yield
        gc.unfreeze()  # what start-up built may be collected again (tests start many apps in one process)
        # Bounded: a shutdown step stuck on a database or upstream that is gone must not keep the
        # process alive after SIGTERM (uvicorn's drain is 25 s, Kubernetes' grace 40 s).
        for step, what in ((on_shutdown, "on_shutdown"), (lambda _: engine.dispose(), "engine.dispose")):
            if step is None:
                continue
            try:
                await asyncio.wait_for(step(app), shutdown_timeout_s)
            except TimeoutError:
                log.error("shutdown step %s took over %.1f s; left unfinished", what, shutdown_timeout_s)

    # Swagger UI from a CDN is useless on the city's networks: the gateway serves it locally.
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        # Our own Prometheus metrics and JSON logs observe every request; FastAPI's built-in
        # OpenTelemetry probe cost ~5% of the gateway's time per request even when idle,
        # and its exception logs would carry messages we keep out of logs.
        **_no_builtin_telemetry(),
        servers=[{"url": f"/api/{settings.name.replace('_', '-')}"}, {"url": "/"}],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.verifier = verifier or verifier_from_settings(
        settings.shared.token_issuer,
        settings.shared.token_audience,
        settings.shared.jwks_url,
        settings.shared.idp_issuer,
        settings.shared.idp_jwks_url,
    )
    app.state.schema_head = alembic_head(schema)
    app.state.trusted_proxies = TrustedProxies(settings.trusted_proxies)
    metrics = Metrics(settings.name)
    install_problem_handlers(app)
    install_problem_docs(app)

    _install_health(app, settings.name, schema, metrics, extra_readiness)
    for router in routers:
        app.include_router(router)
    if with_feed:
        app.include_router(feed_router(schema, max_limit=settings.feed_max_limit))
    app.include_router(audit_router(schema), prefix=audit_prefix)
    for middleware, options in inner_middleware:  # innermost of ours: inside ids, metrics, body limit
        app.add_middleware(middleware, **options)
    # NUL, bad UTF-8, lone surrogates, deep JSON: refused by name here, once, for every route.
    app.add_middleware(InputGuard, skip_body=skip_body_check)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


def _install_health(
    app: FastAPI,
    name: str,
    schema: str,
    metrics: Metrics,
    extra_readiness: Callable[[FastAPI], Awaitable[Response]] | None = None,
) -> None:
    """``/healthz`` (alive), ``/readyz`` (database reachable, schema at head), ``/metrics``."""

    @app.get("/healthz", tags=["health"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["health"], include_in_schema=False)
    async def readyz(request: Request) -> Response:
        own = await _readiness(request.app, schema)
        if extra_readiness is None or own.status_code != 200:
            return own
        return await extra_readiness(request.app)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return metrics.render()


async def warn_connection_budget(app: FastAPI) -> None:
    """Logs a warning when this process, sized like its peers, would pass ``max_connections``.

    Behind PgBouncer (statement cache off) the server limit is the pooler's business: skipped.
    """
    s: ServiceSettings = app.state.settings
    if not s.db_statement_cache:
        return
    try:
        async with app.state.sessionmaker() as session:
            limit = int((await session.execute(text("SHOW max_connections"))).scalar_one())
    except Exception as exc:  # the database may not be up yet; readiness reports that
        log.info("connection budget not checked: %s", type(exc).__name__)
        return
    peak = s.db_max_replicas * (s.db_pool_size + s.db_max_overflow) * s.db_processes_sharing
    if peak + 10 > limit:
        log.warning(
            "connection budget: %d processes × %d replicas × (pool %d + overflow %d) + 10 = %d "
            "exceeds max_connections %d; lower the pool or raise the limit (skillpass check-connections)",
            s.db_processes_sharing,
            s.db_max_replicas,
            s.db_pool_size,
            s.db_max_overflow,
            peak + 10,
            limit,
        )


async def _readiness(app: FastAPI, schema: str) -> Response:
    try:
        async with app.state.sessionmaker() as session:
            current = (await session.execute(text(f"SELECT version_num FROM {schema}.alembic_version"))).scalar()
    except Exception as exc:  # any database failure means not ready
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    head = app.state.schema_head
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "schema": current, "head": head}, status_code=503
        )
    return JSONResponse({"status": "ready", "database": "ok", "schema": current})
