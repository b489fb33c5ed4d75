"""Capped cursor pagination: ``?limit=`` (default 50, max 500) and an opaque ``?cursor=``."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from .problems import InvalidInput, field_error

T = TypeVar("T")
K = TypeVar("K")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    after: Any | None = None


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


INT32 = (-(2**31), 2**31 - 1)


def _malformed() -> InvalidInput:
    return InvalidInput("Malformed cursor", errors=[field_error(["query", "cursor"], "not a valid cursor")])


def _storable(value: Any, depth: int = 0) -> bool:
    """Cursor keys go straight into SQL: integers fit PostgreSQL ``integer``, strings hold no NUL
    and no lone surrogate, and the shape is shallow."""
    if depth > 4:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return INT32[0] <= value <= INT32[1]
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, (list, tuple)):
        return all(_storable(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_storable(k, depth + 1) and _storable(v, depth + 1) for k, v in value.items())
    return True  # floats, None, and parsed keys such as UUIDs and datetimes


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, RecursionError) as exc:
        raise _malformed() from exc
    if not _storable(value):
        raise _malformed()
    return value


async def page_params(
    limit: Annotated[int, Query(ge=1, description="Page size; values above 500 are clamped")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PageParams:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per listed page
    # (issue 15: ``threading.Condition.notify`` in py-spy of the summary's list parts).
    return PageParams(limit=min(limit, MAX_LIMIT), after=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]


def cursor_key(params: PageParams, parse: Callable[[Any], K]) -> K | None:
    """The cursor's key read by ``parse``; a cursor of another shape (forged, or from another list)
    is 422 naming ``cursor``, not a 500 from deep in the query."""
    if params.after is None:
        return None
    try:
        key = parse(params.after)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError) as exc:
        raise _malformed() from exc
    if not _storable(key):  # e.g. int(a[1]) past PostgreSQL's integer: asyncpg's DataError
        raise _malformed()
    return key


def make_page(rows: list[T], params: PageParams, key: Any) -> Page[T]:
    """``rows`` was fetched with ``limit + 1``; ``key(row)`` gives the cursor value of a row."""
    has_more = len(rows) > params.limit
    items = rows[: params.limit]
    return Page(items=items, next_cursor=encode_cursor(key(items[-1])) if has_more and items else None)


def newest_first_after(params: PageParams, at: Any, id_: Any) -> Any | None:
    """The keyset condition for a list ordered ``at DESC, id DESC`` whose cursor is ``[at, id]``
    (see :func:`newest_first_key`); ``None`` on the first page."""
    after = cursor_key(params, lambda c: (datetime.fromisoformat(c[0]), uuid.UUID(c[1])))
    if after is None:
        return None
    last_at, last_id = after
    return (at < last_at) | ((at == last_at) & (id_ < last_id))


def newest_first_key(at: datetime, id_: uuid.UUID) -> list[str]:
    return [at.isoformat(), str(id_)]
