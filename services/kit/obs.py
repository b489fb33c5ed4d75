"""Observability: JSON logs carrying the request id, Prometheus metrics, request-id middleware."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import current_principal
from .problems import internal_error_response, log_unhandled

REQUEST_ID_HEADER = "x-request-id"
_RID_KEY = REQUEST_ID_HEADER.encode()
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "request_id": request_id_var.get(),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    # Replace plain stream handlers (ours from an earlier call, or basicConfig's); keep others
    # such as a test runner's capture handler.
    root.handlers[:] = [h for h in root.handlers if type(h) is not logging.StreamHandler] + [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Access lines would repeat our own request log; query strings may hold names.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


class Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["service", "method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["service", "method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.service = service
        # ``labels()`` takes a lock and checks its arguments on every call; the children for a
        # (method, route, status) are the same each time, so each is looked up once.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        """Counts one answered request and its latency."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(self.service, method, route, str(status)),
                self.latency.labels(self.service, method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestContextMiddleware:
    """Takes or makes X-Request-ID, puts it in the log context and the answer, records metrics.

    Pure ASGI (not BaseHTTPMiddleware) so streaming bodies pass through untouched.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger("skillpass.request")
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(_RID_KEY, b"").decode("latin-1")[:128] or os.urandom(16).hex()
        token = request_id_var.set(rid)
        caller = current_principal.set(None)
        started = time.perf_counter()
        status_holder = [500]
        started_response = [False]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                started_response[0] = True
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (_RID_KEY, rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Here, not in Starlette's outermost error middleware: inside it the request id is
            # still set (log line and answer header), and the connection stays usable.
            log_unhandled(exc, scope.get("method", ""), scope.get("path", ""))
            status_holder[0] = 500
            if not started_response[0]:
                await internal_error_response()(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_name = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.observe(method, route_name, status_holder[0], elapsed)
            if self.log_requests:
                # The path only, never the query string: it may carry names or numbers.
                self.log.info("%s %s %s %.1fms", method, scope.get("path"), status_holder[0], elapsed * 1000)
            current_principal.reset(caller)
            request_id_var.reset(token)


def current_request_id(request: Request | None = None) -> str:
    return request_id_var.get()
