"""The reverse proxy: ``/api/<service>/...`` → the service, on aiohttp's client.

aiohttp's client because it decides the hot path's speed: on 2 cores plain httpx kept only
0.08–0.1× of direct throughput as a proxy, aiohttp's client 0.5–0.68× (see bench/gateway).
Small bodies are buffered (one write each way); large ones stream with a running size check.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from services.kit.auth import Principal, bearer_token, verifier_of
from services.kit.obs import REQUEST_ID_HEADER, request_id_var
from services.kit.problems import (
    NotFound,
    PayloadTooLarge,
    Problem,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    problem_response,
)

from .deps import context

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
BUFFER_LIMIT = 1024 * 1024
# Paths a service serves without a token (relative to the service root).
PUBLIC_PATHS = frozenset(
    {"openapi.json", "healthz", "readyz", "v1/verify", "v1/credential-keys", "v1/credentials/verify"}
)
PUBLIC_PREFIXES = ("v1/status-lists/", "v1/contexts/")


class TokenBuckets:
    """Per-client token buckets: ``rate`` tokens a second, up to ``burst``."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, float(burst), max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Takes one token; returns 0 when allowed, else seconds until one is available."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0


def _client_key(request: Request, principal: Principal | None) -> str:
    if principal is not None:
        return "sub:" + principal.sub
    return "ip:" + (request.client.host if request.client else "unknown")


def _is_public(rest: str) -> bool:
    return rest in PUBLIC_PATHS or rest.startswith(PUBLIC_PREFIXES)


class _BodyTooLarge:
    """Remembers that a streamed body passed the limit (aiohttp wraps the generator's error)."""

    exceeded = False


async def _request_body(request: Request, max_bytes: int, flag: _BodyTooLarge) -> bytes | AsyncIterator[bytes] | None:
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
        return None
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        size = int(declared)
        if size > max_bytes:
            raise PayloadTooLarge(f"body over {max_bytes} bytes")
        if size <= BUFFER_LIMIT:
            return await request.body()

    async def stream() -> AsyncIterator[bytes]:
        seen = 0
        try:
            async for chunk in request.stream():
                seen += len(chunk)
                if seen > max_bytes:
                    raise PayloadTooLarge(f"body over {max_bytes} bytes")
                yield chunk
        except PayloadTooLarge:
            flag.exceeded = True
            raise

    return stream()


async def proxy(request: Request) -> Response:
    """The routed form (``/api/{service}/{rest:path}``), kept for clarity and OpenAPI-free use."""
    return await forward(request, request.path_params["service"], request.path_params["rest"])


async def forward(request: Request, service: str, rest: str) -> Response:
    ctx = context(request)
    upstreams = ctx.upstreams
    base = upstreams.bases.get(service)
    if base is None:
        raise NotFound(f"no service {service!r}")
    principal: Principal | None = None
    if not _is_public(rest):
        principal = await verifier_of(request.app).verify(bearer_token(request))
    wait = ctx.rate_limiter.take(_client_key(request, principal))
    if wait > 0:
        raise RateLimited("rate limit exceeded", headers={"Retry-After": str(max(1, round(wait + 0.5)))})
    too_large = _BodyTooLarge()
    body = await _request_body(request, ctx.settings.max_body_bytes, too_large)
    headers = [(k, v) for k, v in request.headers.items() if k not in HOP_BY_HOP]
    headers.append((REQUEST_ID_HEADER, request_id_var.get()))
    if request.client:
        prior = request.headers.get("x-forwarded-for")
        headers.append(("x-forwarded-for", f"{prior}, {request.client.host}" if prior else request.client.host))
    url = f"{base}/{rest}"
    query = request.scope.get("query_string", b"")
    if query:
        url += "?" + query.decode("latin-1")
    return await _forward(
        upstreams.session(service),
        service,
        request.method,
        url,
        headers,
        body,
        too_large,
        ctx.settings.max_body_bytes,
    )


async def _forward(
    session: aiohttp.ClientSession,
    service: str,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes | AsyncIterator[bytes] | None,
    too_large: _BodyTooLarge,
    max_bytes: int,
) -> Response:
    """Sends the request upstream; buffers a small answer, streams a large one."""
    try:
        upstream = await session.request(method, url, headers=headers, data=body, allow_redirects=False)
    except TimeoutError as exc:
        raise UpstreamTimeout(f"{service} did not answer in time") from exc
    except (aiohttp.ClientError, PayloadTooLarge) as exc:
        if too_large.exceeded:
            raise PayloadTooLarge(f"body over {max_bytes} bytes") from exc
        raise UpstreamUnavailable(f"{service} is unavailable") from exc
    out_headers = {
        k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != REQUEST_ID_HEADER
    }
    length = upstream.content_length
    try:
        if length is not None and length <= BUFFER_LIMIT:
            content = await upstream.read()
            upstream.release()
            return Response(content, status_code=upstream.status, headers=out_headers)
    except (TimeoutError, aiohttp.ClientError) as exc:
        upstream.release()
        raise UpstreamTimeout(f"{service} broke off its answer") from exc
    return StreamingResponse(
        upstream.content.iter_any(),
        status_code=upstream.status,
        headers=out_headers,
        background=BackgroundTask(upstream.release),
    )


class ProxyFastPath:
    """Sends ``/api/<service>/...`` straight to :func:`forward`, past FastAPI's routing layers.

    The proxy is the hot path of every call; routing, the exception middleware and the exit-stack
    middleware cost about a quarter of the gateway's time per proxied request (py-spy on
    bench/gateway). Request ids, metrics and the body limit still apply: this sits inside them.
    """

    ROUTE = "/api/{service}/{rest:path}"

    def __init__(self, app: Any, services: frozenset[str]) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/api/"):
            service, _, rest = path[5:].partition("/")
            if service in self.services:
                scope["route"] = _ROUTE_LABEL
                request = Request(scope, receive)
                try:
                    response = await forward(request, service, rest)
                except Problem as problem:
                    response = problem_response(problem)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _RouteLabel:
    path = ProxyFastPath.ROUTE


_ROUTE_LABEL = _RouteLabel()
