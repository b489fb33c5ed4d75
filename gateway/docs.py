"""Interactive API docs for every service, served without any CDN (the city's networks have none).

Swagger UI 5 and Redoc come from the ``fastapi-offline`` wheel: current assets (Swagger UI 5.x reads
the OpenAPI 3.1 that FastAPI emits; the old ``swagger-ui-bundle`` 4.15 could not) and no build step.
Each service's definition is served through ``/docs/openapi/<name>.json`` with the gateway as its
server and a bearer scheme, so "Try it out" calls go through the gateway with a pasted token.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.kit.net import client_address
from services.kit.obs import REQUEST_ID_HEADER, request_id_var
from services.kit.problems import NotFound, UpstreamUnavailable

from .deps import context
from .proxy import _client_key, _is_public
from .upstreams import Upstreams

SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"
OWN_ASSETS = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# Swagger UI and Redoc style elements inline and draw icons from data: URIs; no script may be inline.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
GATEWAY_PUBLIC = frozenset({"/auth/token", "/.well-known/jwks.json"})


def page_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


async def take_public_quota(request: Request) -> None:
    """The same per-address bucket as an anonymous API call through the proxy."""
    await context(request).rate_limiter.acquire(_client_key(client_address(request), None))


def for_the_gateway(spec: dict[str, Any], server: str, public: Callable[[str], bool]) -> dict[str, Any]:
    """The definition as seen through the gateway: the gateway as its server, and a bearer token on
    every operation that ``public`` (given the path) does not let through without one."""
    spec = copy.deepcopy(spec)
    spec["servers"] = [{"url": server}]
    # One scheme only: the service's own declaration (the kit's HTTPBearer) would show a second
    # "Authorize" field whose token the operations, re-pointed at "bearer" here, do not send.
    spec.setdefault("components", {})["securitySchemes"] = {"bearer": BEARER}
    for path, operations in spec.get("paths", {}).items():
        security: list[dict[str, list[str]]] = [] if public(path) else [{"bearer": []}]
        for method, operation in operations.items():
            if method in HTTP_METHODS and isinstance(operation, dict):
                operation["security"] = security
    return spec


async def _upstream_definition(upstreams: Upstreams, service: str) -> dict[str, Any]:
    headers = {REQUEST_ID_HEADER: request_id_var.get()}
    try:
        async with upstreams.session(service).get(upstreams.bases[service] + "/openapi.json", headers=headers) as r:
            if r.status != 200:
                raise UpstreamUnavailable(f"{service} answered {r.status} for its definition")
            answer: dict[str, Any] = json.loads(await r.read())
            return answer
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UpstreamUnavailable(f"{service} is unavailable") from exc


def _gateway_definition(app: FastAPI) -> dict[str, Any]:
    return for_the_gateway(app.openapi(), "/", lambda path: path in GATEWAY_PUBLIC)


def install_docs(app: FastAPI, services: list[str]) -> None:
    """``/docs`` (Swagger UI 5), ``/redoc`` and the definitions they read, all from the gateway."""
    names = ["gateway", *services]
    app.mount("/docs/static", StaticFiles(directory=SWAGGER_ASSETS), name="docs-static")
    app.mount("/assets", StaticFiles(directory=OWN_ASSETS), name="gateway-assets")

    def chosen(service: str | None) -> str:
        if service is None:
            return "gateway"
        if service not in names:
            raise NotFound(f"no service {service!r}", errors=[{"loc": ["query", "service"], "msg": "unknown"}])
        return service

    async def page(request: Request, template: str, service: str | None) -> HTMLResponse:
        await take_public_quota(request)
        current = chosen(service)
        return templates.TemplateResponse(
            request,
            template,
            {"services": names, "current": current, "spec_url": f"/docs/openapi/{current}.json"},
            headers=page_headers(DOCS_CSP),
        )

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request, service: str | None = None) -> HTMLResponse:
        return await page(request, "docs.html", service)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request, service: str | None = None) -> HTMLResponse:
        return await page(request, "redoc.html", service)

    @app.get("/docs/openapi/{service}.json", include_in_schema=False)
    async def definition(request: Request, service: str) -> JSONResponse:
        await take_public_quota(request)
        name = chosen(service)
        if name == "gateway":
            return JSONResponse(_gateway_definition(app))
        upstream = await _upstream_definition(context(request).upstreams, name)
        return JSONResponse(for_the_gateway(upstream, f"/api/{name}", lambda path: _is_public(path.lstrip("/"))))
