"""Hostile-input guard: one place that refuses what PostgreSQL, the JSON parser or a codec would
turn into a 500, before any route sees it.

- NUL bytes (PostgreSQL text cannot hold them) in the path, the query, a JSON/form/text body;
- bytes that are not UTF-8 in the path, the query or a JSON/form/text body;
- lone UTF-16 surrogates in JSON strings (``"\\ud800"``: valid JSON, not storable as jsonb/text);
- JSON nested deeper than ``max_depth`` (the parser would overflow the stack: RecursionError).

Each refusal is an RFC 9457 problem naming the field (``loc``): 400 for bytes that cannot be read
at all, 422 for a readable value that is not acceptable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import BadRequest, InvalidInput, Problem, field_error, problem_response

MAX_JSON_DEPTH = 64
_JSON_TYPES = ("application/json",)
_FORM_TYPES = ("application/x-www-form-urlencoded",)


def _is_json(content_type: str) -> bool:
    return content_type in _JSON_TYPES or content_type.endswith("+json")


def _bad_string(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def check_pairs(raw: bytes, where: str) -> None:
    """``a=1&b=2`` (a query string or a form body): UTF-8, no NUL; names the field."""
    for part in raw.split(b"&"):
        if not part:
            continue
        name_raw, _, value_raw = part.partition(b"=")
        try:
            name = unquote_to_bytes(name_raw.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(
                f"a {where} parameter name is not UTF-8", errors=[field_error([where], "not UTF-8")]
            ) from exc
        loc: list[str | int] = [where, name.replace("\x00", "\\x00")]
        try:
            value = unquote_to_bytes(value_raw.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(
                f"{where} parameter {name!r} is not UTF-8", errors=[field_error(loc, "not UTF-8")]
            ) from exc
        for text in (name, value):
            why = _bad_string(text)
            if why:
                raise InvalidInput("The request has invalid fields", errors=[field_error(loc, why)])


def check_path(raw_path: bytes) -> None:
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the path is not UTF-8", errors=[field_error(["path"], "not UTF-8")]) from exc
    if "\x00" in path:
        raise BadRequest("the path contains a NUL byte", errors=[field_error(["path"], "contains a NUL byte")])


def check_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> tuple[Any] | None:
    """Refuses bodies the parser or the database would choke on; leaves plain syntax errors to
    the route's own validation (a 422 from FastAPI). Answers ``(parsed,)``, or None when the
    body is not JSON at all."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the JSON body is not UTF-8", errors=[field_error(["body"], "not UTF-8")]) from exc
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise _too_deep(["body"], max_depth) from exc
    except ValueError:
        return None  # malformed JSON: FastAPI answers 422 json_invalid with the position
    _walk(data, max_depth, strings="\\u" in text)  # NUL and surrogates only arrive as \\u escapes
    return (data,)


# Where the guard leaves the JSON body it parsed, for a route that reads the raw body itself (a
# 5,000-record upload was parsed twice: issue 15, B4). Routes must not change what they get.
PARSED_JSON = "skillpass.parsed_json"


def parsed_json(scope: Scope) -> tuple[Any] | None:
    """``(body,)`` as the guard parsed it, or None when it did not (not JSON, or malformed)."""
    found: tuple[Any] | None = scope.get(PARSED_JSON)
    return found


def _too_deep(loc: list[str | int], max_depth: int) -> BadRequest:
    return BadRequest(
        f"the JSON body is nested too deeply (limit {max_depth})",
        errors=[field_error(loc[: max_depth + 1], f"nested deeper than {max_depth}")],
    )


def _unstorable(loc: list[str | int], why: str) -> InvalidInput:
    return InvalidInput("The request has invalid fields", errors=[field_error(loc, why)])


def _walk(data: Any, max_depth: int, *, strings: bool) -> None:
    # Depth-first, last child first. A node's place is kept as a linked (parent, key) pair and
    # spelled out as a loc only for an error; values that cannot fail (numbers, booleans, null, and
    # strings when there is no \\u escape) are not visited: building a loc list per value was half
    # the guard's time on a 5,000-record upload (issue 15, B4).
    stack: list[tuple[Any, int, Any]] = [(data, 0, None)]
    while stack:
        node, depth, path = stack.pop()
        if depth > max_depth:
            raise _too_deep(_loc(path), max_depth)
        child = depth + 1
        deep = child > max_depth  # a value down there fails whatever it is
        if isinstance(node, dict):
            for key, value in node.items():
                why = _bad_string(key) if strings else None
                if why:
                    safe = key.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")
                    raise _unstorable([*_loc(path), safe], "key " + why)
                if isinstance(value, _CONTAINERS) or deep or (strings and isinstance(value, str)):
                    stack.append((value, child, (path, key)))
        elif isinstance(node, list):
            stack.extend(
                [
                    (value, child, (path, i))
                    for i, value in enumerate(node)
                    if isinstance(value, _CONTAINERS) or deep or (strings and isinstance(value, str))
                ]
            )
        elif strings and isinstance(node, str):
            why = _bad_string(node)
            if why:
                raise _unstorable(_loc(path), why)


_CONTAINERS = (dict, list)


def _loc(path: Any) -> list[str | int]:
    """``["body", key, ...]`` from a linked (parent, key) path."""
    keys: list[str | int] = []
    while path is not None:
        path, key = path
        keys.append(key)
    return ["body", *reversed(keys)]


# A text body without a declared charset is read as UTF-8, else as GB18030: what Excel on a
# Chinese-language Windows saves as "CSV (逗号分隔)" (issue 17), and a superset of GBK.
_TEXT_FALLBACK = ("utf-8", "gb18030")


def _decode_text(body: bytes, charset: str | None) -> str | None:
    for encoding in (charset,) if charset else _TEXT_FALLBACK:
        try:
            return body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def check_text(body: bytes, charset: str | None = None) -> None:
    """No NUL bytes in a text body. Its encoding is the route's to judge (a CSV upload answers 422
    naming the charset it expected); text that no known charset decodes reaches no database."""
    text = _decode_text(body, charset)
    if text is None:
        return
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InvalidInput(
            "The request has invalid fields", errors=[field_error(["body", f"line {line}"], "contains a NUL byte")]
        )


class InputGuard:
    """Pure ASGI: checks path and query of every request, and buffers and checks JSON, form and
    text bodies (the body size limit sits outside, so buffering is bounded).

    ``skip_body`` says which paths keep their body unread (the gateway's proxy streams them on;
    the service behind checks them).
    """

    def __init__(
        self, app: ASGIApp, max_depth: int = MAX_JSON_DEPTH, skip_body: Callable[[str], bool] | None = None
    ) -> None:
        self.app = app
        self.max_depth = max_depth
        self.skip_body = skip_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_path(scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape"))
            check_pairs(scope.get("query_string", b""), "query")
            kind = self._body_kind(scope)
            if kind is None:
                await self.app(scope, receive, send)
                return
            body, more = await self._read(receive)
            if kind == "json":
                parsed = check_json(body, self.max_depth)
                if parsed is not None:
                    scope[PARSED_JSON] = parsed
            elif kind == "form":
                check_pairs(body, "body")
            else:
                check_text(body, self._charset(scope))
        except Problem as problem:
            await problem_response(problem)(scope, receive, send)
            return
        await self.app(scope, _replay(body, more, receive), send)

    def _body_kind(self, scope: Scope) -> str | None:
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return None
        if self.skip_body is not None and self.skip_body(scope.get("path", "")):
            return None
        content_type = b""
        for k, v in scope.get("headers") or ():
            if k == b"content-type":
                content_type = v
                break
        ctype = content_type.split(b";")[0].strip().lower().decode("latin-1")
        if _is_json(ctype):
            return "json"
        if ctype in _FORM_TYPES:
            return "form"
        if ctype.startswith("text/"):
            return "text"
        return None

    @staticmethod
    def _charset(scope: Scope) -> str | None:
        for k, v in scope.get("headers") or ():
            if k == b"content-type":
                header: str = bytes(v).decode("latin-1")
                for param in header.split(";")[1:]:
                    name, _, value = param.partition("=")
                    if name.strip().lower() == "charset" and value.strip():
                        return str(value.strip().strip('"').lower())
        return None

    @staticmethod
    async def _read(receive: Receive) -> tuple[bytes, list[Message]]:
        chunks: list[bytes] = []
        other: list[Message] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                other.append(message)  # a disconnect: hand it on after the body
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks), other


def _replay(body: bytes, after: list[Message], receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if after:
            return after.pop(0)
        return await receive()

    return replay
