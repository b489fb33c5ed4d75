"""RFC 9457 problem details: domain errors carry a stable type and status; one handler shapes them."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("skillpass.problems")

PROBLEM_BASE = "https://skillpass.sh.gov.cn/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """A domain error. Subclasses set ``type_``, ``title`` and ``status``."""

    type_: ClassVar[str] = "about:blank"
    title: ClassVar[str] = "Error"
    status: ClassVar[int] = 400

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type_ if self.type_.startswith(("http", "about:")) else PROBLEM_BASE + self.type_,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            out["errors"] = self.errors
        return out


class NotFound(Problem):
    type_ = "not-found"
    title = "Not found"
    status = 404


class Conflict(Problem):
    type_ = "conflict"
    title = "Conflict"
    status = 409


class Forbidden(Problem):
    type_ = "forbidden"
    title = "Forbidden"
    status = 403


class Unauthorized(Problem):
    type_ = "unauthorized"
    title = "Not authenticated"
    status = 401

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class InvalidInput(Problem):
    type_ = "validation"
    title = "Invalid input"
    status = 422


class Gone(Problem):
    type_ = "gone"
    title = "Gone"
    status = 410


class PayloadTooLarge(Problem):
    type_ = "payload-too-large"
    title = "Payload too large"
    status = 413


class RateLimited(Problem):
    type_ = "rate-limited"
    title = "Too many requests"
    status = 429


class UpstreamUnavailable(Problem):
    type_ = "upstream-unavailable"
    title = "Upstream service unavailable"
    status = 503


class UpstreamTimeout(Problem):
    type_ = "upstream-timeout"
    title = "Upstream service timed out"
    status = 504


def field_error(loc: list[str | int] | tuple[str | int, ...], msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg}


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem.body(), status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers or None
    )


_HTTP_TYPES = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    429: RateLimited,
}


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves as application/problem+json; no trace ever leaves the process."""

    @app.exception_handler(Problem)
    async def _domain(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [field_error(list(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors()]
        return problem_response(InvalidInput("The request has invalid fields", errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _HTTP_TYPES.get(exc.status_code)
        if cls is not None and cls is not Unauthorized:
            problem: Problem = cls(str(exc.detail))
        else:
            problem = Problem(str(exc.detail))
            problem.status = exc.status_code  # type: ignore[misc]
            problem.title = str(exc.detail)  # type: ignore[misc]
        problem.headers.update(getattr(exc, "headers", None) or {})
        return problem_response(problem)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = {
            "type": PROBLEM_BASE + "internal",
            "title": "Internal server error",
            "status": 500,
            "detail": "An unexpected error occurred; it has been logged with the request id.",
        }
        return JSONResponse(body, status_code=500, media_type=MEDIA_TYPE)
