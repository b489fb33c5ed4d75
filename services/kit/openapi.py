"""The OpenAPI documents declare the problems each operation answers (issue 11, finding 8):
integrators generate clients from these documents, so ``application/problem+json`` and the error
statuses belong in them, not only in API.md."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from .problems import MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}
DESCRIPTIONS = {
    400: "Unreadable request (bytes that are not UTF-8, a NUL byte, JSON nested too deeply)",
    401: "No valid bearer token",
    403: "The token's role may not do this",
    404: "Not found (or another tenant's)",
    409: "Conflicts with the current state",
    413: "Body too large",
    422: "Invalid fields (``errors`` names each)",
    429: "Rate limited (``Retry-After``)",
    500: "Unexpected error (logged with the request id)",
    503: "The database or a service behind is unavailable; retry (``Retry-After``)",
}
ALWAYS = (400, 404, 422, 429, 500, 503)
AUTHENTICATED = (401, 403)
WITH_BODY = (409, 413)


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS[status],
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def install_problem_docs(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        _document(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_statuses(op: dict[str, Any], method: str, authenticated: bool) -> None:
    statuses = list(ALWAYS)
    if authenticated:
        statuses += AUTHENTICATED
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        statuses += WITH_BODY
    responses = op.setdefault("responses", {})
    for status in statuses:
        if str(status) not in responses or status == 422:  # FastAPI's 422 is not what we answer
            responses[str(status)] = _problem_response(status)
    # An error a route declares itself (``responses={409: {"description": ...}}``) is a problem too.
    for key, response in responses.items():
        if key.isdigit() and int(key) >= 400 and isinstance(response, dict):
            response["content"] = _problem_response(int(key) if int(key) in DESCRIPTIONS else 409)["content"]


def _document(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for ops in schema.get("paths", {}).values():
        for method, op in ops.items():
            if isinstance(op, dict) and "responses" in op:
                # "security" is set by the kit's principal dependency (HTTPBearer).
                _add_statuses(op, method.upper(), bool(op.get("security")))
    _link_created(schema)
    for unused in ("HTTPValidationError", "ValidationError"):  # in this order: the first refers to the second
        if f"#/components/schemas/{unused}" not in str(schema):
            components.pop(unused, None)


def _body_properties(schema: dict[str, Any], response: dict[str, Any]) -> set[str]:
    body = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = body.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        body = schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    return set(body.get("properties", {}))


def _link_created(schema: dict[str, Any]) -> None:
    """OpenAPI links from each create (POST answering 201) to the operations on what it created:
    ``POST /v1/x`` → every operation under ``/v1/x/{x_id}``, that parameter taken from the created
    body's field of the same name (``x_id``) or else its ``id``, and the create's own path
    parameters passed on. Clients and stateful testing (schemathesis) follow them."""
    paths = schema.get("paths", {})
    for path, ops in paths.items():
        create = ops.get("post")
        created = (create or {}).get("responses", {}).get("201")
        if not created:
            continue
        fields = _body_properties(schema, created)
        own = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        links: dict[str, Any] = {}
        for target, target_ops in paths.items():
            rest = target[len(path) + 1 :] if target.startswith(path + "/{") else ""
            param = rest.split("/", 1)[0][1:-1]
            field = param if param in fields else "id" if "id" in fields else None
            if not rest or field is None:
                continue
            for method, op in target_ops.items():
                parameters = {name: f"$request.path.{name}" for name in own}
                parameters[param] = f"$response.body#/{field}"
                name = "".join(p.title() for p in f"{method} {target}".replace("{", "").replace("}", "").split("/"))
                links[name.replace(" ", "").replace("-", "").replace("_", "")] = {
                    "operationId": op["operationId"],
                    "parameters": parameters,
                }
        if links:
            created["links"] = links
