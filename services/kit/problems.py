"""RFC 9457 problem details: domain errors carry a stable type and status; one handler shapes them."""

from __future__ import annotations

import logging
import traceback
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
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


class BadRequest(Problem):
    type_ = "bad-request"
    title = "Bad request"
    status = 400


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
    400: BadRequest,
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

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # The last line of defence: a value PostgreSQL (or asyncpg, before sending) refused as
        # data (SQLSTATE class 22: out of range, bad encoding...) is the client's error, a 422.
        # The guards and validation should have caught it by name first.
        state = _sqlstate(exc) or ""
        if isinstance(exc, DataError) or state.startswith("22"):
            log.warning("data error from the database: %s", _db_reason(exc))
            return problem_response(InvalidInput("A value is out of range or not valid for storage"))
        if exc.connection_invalidated or state.startswith(("08", "57P")) or isinstance(exc.orig, OSError):
            return _database_unavailable(_db_reason(exc))
        log_unhandled(exc, request.method, request.url.path)
        return internal_error_response()

    @app.exception_handler(ConnectionError)
    async def _unreachable(request: Request, exc: ConnectionError) -> JSONResponse:
        # asyncpg's connect errors arrive unwrapped (connection refused while the server restarts).
        return _database_unavailable(type(exc).__name__)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log_unhandled(exc, request.method, request.url.path)
        return internal_error_response()


INTERNAL_ERROR_BODY = {
    "type": PROBLEM_BASE + "internal",
    "title": "Internal server error",
    "status": 500,
    "detail": "An unexpected error occurred; it has been logged with the request id.",
}
TRACE_FRAMES = 8
MESSAGE_CHARS = 300


def internal_error_response() -> JSONResponse:
    return JSONResponse(INTERNAL_ERROR_BODY, status_code=500, media_type=MEDIA_TYPE)


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = getattr(exc, "orig", None)
    cause = getattr(orig, "__cause__", None) or orig
    state = getattr(cause, "sqlstate", None) or getattr(orig, "sqlstate", None)
    return str(state) if state else None


def _db_reason(exc: DBAPIError) -> str:
    """A database error without its statement or parameters (they may carry secrets or names)."""
    orig = getattr(exc, "orig", None)
    cause = getattr(orig, "__cause__", None) or orig
    return f"{type(cause).__name__} (SQLSTATE {_sqlstate(exc) or '?'})"


def log_unhandled(exc: BaseException, method: str, path: str) -> None:
    """One bounded ERROR line (about 1-2 KB): the type, a short message, the last frames.

    Not ``log.exception``: a chained SQLAlchemy trace ran to ~30 KB and carried the statement's
    parameters. Database errors are logged without their message.
    """
    if isinstance(exc, DBAPIError):
        reason = _db_reason(exc)
    else:
        message = str(exc)
        if len(message) > MESSAGE_CHARS:
            message = message[:MESSAGE_CHARS] + "…"
        reason = f"{type(exc).__name__}: {message}"
    frames = traceback.extract_tb(exc.__traceback__)[-TRACE_FRAMES:]
    where = " <- ".join(f"{_short(f.filename)}:{f.lineno} {f.name}" for f in reversed(frames))
    log.error("unhandled error on %s %s: %s at %s", method, path[:200], reason, where)


def _short(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


class DatabaseUnavailable(Problem):
    type_ = "database-unavailable"
    title = "Database unavailable"
    status = 503


def _database_unavailable(reason: str) -> JSONResponse:
    """The database is restarting or unreachable: a 503 to retry, not a 500 with a trace."""
    log.warning("database unavailable: %s", reason)
    return problem_response(
        DatabaseUnavailable("the database is unavailable; retry shortly", headers={"Retry-After": "1"})
    )
