"""The input guard hands the JSON body it parsed on to the route (issue 15, B4: a 5,000-record
upload was parsed twice), and only a body it parsed: malformed JSON is still the route's to judge."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from services.kit.guards import InputGuard, parsed_json


async def _through_guard(body: bytes, content_type: bytes = b"application/json") -> tuple[Any, bytes]:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["parsed"] = parsed_json(scope)
        seen["body"] = (await receive())["body"]

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/batches",
        "raw_path": b"/v1/batches",
        "query_string": b"",
        "headers": [(b"content-type", content_type)],
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await InputGuard(app)(scope, receive, send)
    return seen["parsed"], seen["body"]


@pytest.mark.parametrize("doc", [{"records": [{"a": 1}, {"b": "甲"}]}, [1, 2], None, "text"])
async def test_the_route_gets_the_guards_parse_and_the_same_bytes(doc: Any) -> None:
    raw = json.dumps(doc, ensure_ascii=False).encode()
    parsed, body = await _through_guard(raw)
    assert parsed == (doc,)  # a tuple, so a JSON null is told apart from "not parsed"
    assert body == raw


async def test_malformed_or_other_bodies_are_not_parsed_for_the_route() -> None:
    assert await _through_guard(b'{"records": [') == (None, b'{"records": [')
    assert await _through_guard(b"a,b\r\n1,2\r\n", b"text/csv") == (None, b"a,b\r\n1,2\r\n")
