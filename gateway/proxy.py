"""The reverse proxy: ``/api/<service>/...`` → the service.

The client decides the hot path's speed: on 2 cores plain httpx kept only 0.08–0.1× of direct
throughput as a proxy, aiohttp's client 0.5–0.68× (see bench/gateway); the lean HTTP/1.1 client
(gateway/upstream_http.py) cut the gateway's CPU per proxied call by a further ~half (issue 15g).
It serves every ``http://`` upstream; HEAD and ``https`` upstreams go through aiohttp.
Small bodies are buffered (one write each way); large ones stream with a running size check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import yarl
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from services.kit.auth import Principal, bearer_token, verifier_of
from services.kit.net import client_address
from services.kit.obs import REQUEST_ID_HEADER, request_id_var
from services.kit.problems import (
    NotFound,
    PayloadTooLarge,
    Problem,
    UpstreamTimeout,
    UpstreamUnavailable,
    problem_response,
)

from . import aliases
from .deps import context
from .upstream_http import Answer, Pool, UpstreamError

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
# Client-supplied forwarding headers are dropped; the gateway writes X-Forwarded-For itself.
FORWARDING = frozenset({"x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host", "x-forwarded-proto"})
# uvicorn writes its own; passing the service's on would send each twice.
ANSWER_DROPPED = frozenset({"date", "server"})
# Methods that may be sent again when a pooled keep-alive connection turns out dead
# (RFC 9110 §9.2.2); a POST only when it carries an Idempotency-Key.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Characters kept as they are when re-encoding a normalised path (RFC 3986 pchar and "/").
PATH_SAFE = "/:@!$&'()*+,;=-._~"
BUFFER_LIMIT = 1024 * 1024
# The same sets as raw header names, for the lean client (headers pass through as bytes). The
# client's own X-Request-ID is replaced by the one the gateway uses; Expect was answered here.
_REQUEST_DROPPED = frozenset(h.encode() for h in (*HOP_BY_HOP, *FORWARDING, REQUEST_ID_HEADER, "expect"))
_ANSWER_DROPPED = frozenset(h.encode() for h in (*HOP_BY_HOP, *ANSWER_DROPPED, REQUEST_ID_HEADER))
_RID = REQUEST_ID_HEADER.encode()
# Paths a service serves without a token (relative to the service root).
PUBLIC_PATHS = frozenset(
    {"openapi.json", "healthz", "readyz", "v1/verify", "v1/credential-keys", "v1/credentials/verify"}
)
PUBLIC_PREFIXES = ("v1/status-lists/", "v1/contexts/")


def _client_key(client: str, principal: Principal | None) -> str:
    if principal is not None:
        return "sub:" + principal.sub
    return "ip:" + client


def _is_public(rest: str) -> bool:
    return rest in PUBLIC_PATHS or rest.startswith(PUBLIC_PREFIXES)


def normalise(rest: str) -> str:
    """The decoded path below the service root with ``.`` and ``..`` resolved, as the service's
    router will see it. Climbing above the service root is a 404: the check for public paths and
    the forwarded URL both use this one form (``status-lists/..%2F..%2Fmetrics`` is ``metrics``)."""
    out: list[str] = []
    parts = rest.split("/")
    for i, part in enumerate(parts):
        if part == ".":
            if i == len(parts) - 1:
                out.append("")
            continue
        if part == "..":
            if not out:
                raise NotFound("no such path")
            out.pop()
            if i == len(parts) - 1:
                out.append("")
            continue
        out.append(part)
    return "/".join(out)


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
    if service not in upstreams.bases:
        raise NotFound(f"no service {service!r}")
    rest = normalise(rest) if "." in rest else rest
    service = aliases.route(service, rest)  # API.md paths served by another service
    base = upstreams.bases.get(service)
    if base is None:
        raise NotFound(f"no service {service!r}")
    principal: Principal | None = None
    if not _is_public(rest):
        principal = await verifier_of(request.app).verify(bearer_token(request))
    client = client_address(request)
    await ctx.rate_limiter.acquire(_client_key(client, principal))
    too_large = _BodyTooLarge()
    body = await _request_body(request, ctx.settings.max_body_bytes, too_large)
    pool = upstreams.pools.get(service)
    if pool is not None and request.method != "HEAD":
        target = ("/" + quote(rest, safe=PATH_SAFE)).encode("ascii")
        query = request.scope.get("query_string", b"")
        if query:
            target += b"?" + query
        raw = [(k, v) for k, v in request.scope["headers"] if k not in _REQUEST_DROPPED]
        raw.append((_RID, request_id_var.get().encode("latin-1")))
        raw.append((b"x-forwarded-for", client.encode("latin-1")))
        return await _forward_lean(
            pool, service, request.method, target, raw, body, too_large, ctx.settings.max_body_bytes
        )
    headers = [(k, v) for k, v in request.headers.items() if k not in HOP_BY_HOP and k not in FORWARDING]
    headers.append((REQUEST_ID_HEADER, request_id_var.get()))
    # Only the address the gateway itself determined: the services trust this header from us alone.
    headers.append(("x-forwarded-for", client))
    # The decoded path is re-encoded, so a "%3F" in it stays part of the path upstream.
    url = f"{base}/{quote(rest, safe=PATH_SAFE)}"
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


def _safe_to_resend(method: str, body: bytes | AsyncIterator[bytes] | None, *, keyed: bool) -> bool:
    """Sending a request twice is safe: an idempotent method or an Idempotency-Key, and a body that
    is buffered (a streamed one cannot be read again)."""
    return not isinstance(body, AsyncIterator) and (method in IDEMPOTENT or keyed)


def _not_forwarded(service: str, too_large: _BodyTooLarge, max_bytes: int) -> Exception:
    """The problem for a request the upstream did not take: 413 when the gateway cut the body off
    at the limit (the upstream then sees a broken request), else 503."""
    if too_large.exceeded:
        return PayloadTooLarge(f"body over {max_bytes} bytes")
    return UpstreamUnavailable(f"{service} is unavailable")


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
        upstream = await _send(session, method, url, headers, body)
    except TimeoutError as exc:
        raise UpstreamTimeout(f"{service} did not answer in time") from exc
    except (aiohttp.ClientError, PayloadTooLarge) as exc:
        raise _not_forwarded(service, too_large, max_bytes) from exc
    out_headers = {
        k: v
        for k, v in upstream.headers.items()
        if k.lower() not in HOP_BY_HOP and k.lower() != REQUEST_ID_HEADER and k.lower() not in ANSWER_DROPPED
    }
    location = upstream.headers.get("location")
    if location:
        out_headers = {k: v for k, v in out_headers.items() if k.lower() != "location"}
        out_headers["location"] = _public_location(location, url, service)
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


async def _send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes | AsyncIterator[bytes] | None,
) -> aiohttp.ClientResponse:
    """One request; sent again once when a pooled keep-alive connection was already closed by the
    service, if sending twice is safe (idempotent method, or an Idempotency-Key) and the body is
    buffered. aiohttp retries idempotent methods itself; this adds keyed POSTs and PATCHes.
    A connection that cannot be opened at all is not retried: that is a 503 at once."""
    target = yarl.URL(url, encoded=True)  # as built: no second normalisation of "..", "%2F"
    retry = _safe_to_resend(method, body, keyed=any(k == "idempotency-key" for k, _ in headers))
    while True:
        try:
            return await session.request(method, target, headers=headers, data=body, allow_redirects=False)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            if not retry or isinstance(exc, aiohttp.ClientConnectorError):
                raise
            retry = False


async def _forward_lean(
    pool: Pool,
    service: str,
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes | AsyncIterator[bytes] | None,
    too_large: _BodyTooLarge,
    max_bytes: int,
) -> Response:
    """:func:`_forward` on the lean client: the same answers, errors and retries."""
    retry = _safe_to_resend(method, body, keyed=any(k == b"idempotency-key" for k, _ in headers))
    try:
        upstream = await pool.request(method, target, headers, body, retry=retry)
    except TimeoutError as exc:
        raise UpstreamTimeout(f"{service} did not answer in time") from exc
    except (UpstreamError, PayloadTooLarge) as exc:
        raise _not_forwarded(service, too_large, max_bytes) from exc
    out: list[tuple[bytes, bytes]] = []
    for k, v in upstream.headers:
        if k in _ANSWER_DROPPED:
            continue
        if k == b"location":
            url = f"http://{pool.host}:{pool.port}{target.decode('latin-1')}"
            v = _public_location(v.decode("latin-1"), url, service).encode("latin-1")
        out.append((k, v))
    length = upstream.content_length
    if length is not None and length <= BUFFER_LIMIT:
        try:
            content = await upstream.read()
        except (TimeoutError, UpstreamError) as exc:
            raise UpstreamTimeout(f"{service} broke off its answer") from exc
        status = upstream.status
        if status >= 200 and status not in (204, 304):
            out.append((b"content-length", str(len(content)).encode()))
        return _Answered(status, out, content)
    return _streamed(upstream, out)


class _Answered(Response):
    """A buffered answer whose raw headers are already in ASGI form (no re-encoding)."""

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.body = body
        self.raw_headers = raw_headers
        self.background = None


def _streamed(upstream: Answer, raw_headers: list[tuple[bytes, bytes]]) -> Response:
    response = StreamingResponse(
        upstream.iter_body(), status_code=upstream.status, background=BackgroundTask(upstream.release)
    )
    response.raw_headers = raw_headers  # uvicorn chunks it (no content-length)
    return response


def _public_location(location: str, url: str, service: str) -> str:
    """A redirect to the service's own address (e.g. a trailing-slash 307) must not leak it:
    it becomes the gateway path ``/api/<service>/...``."""
    target = yarl.URL(location)
    upstream = yarl.URL(url, encoded=True)
    if not target.is_absolute() or target.origin() == upstream.origin():
        public = yarl.URL(f"/api/{service}", encoded=True)
        path = target.raw_path if target.raw_path.startswith("/") else "/" + target.raw_path
        rewritten = str(public) + path
        if target.raw_query_string:
            rewritten += "?" + target.raw_query_string
        return rewritten
    return location


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
