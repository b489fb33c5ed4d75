"""Fakes for the statistics tests: a source service's change feed served from a list of events."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx


@dataclass
class FakeFeed:
    """``GET /v1/events?after=&limit=`` over ``events`` (cursor = how many were served); other paths
    answer from ``routes``. ``missing`` answers 404 like a service that has no feed yet."""

    events: list[dict[str, Any]] = field(default_factory=list)
    routes: dict[str, Any] = field(default_factory=dict)
    missing: bool = False
    calls: int = 0

    def add(self, type_: str, data: dict[str, Any], occurred_at: str = "2026-11-20T02:00:00Z") -> None:
        n = len(self.events) + 1
        self.events.append({"id": n, "type": type_, "occurred_at": occurred_at, "subject": type_, "data": data})

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.missing:
            return httpx.Response(404, json={"title": "Not Found", "status": 404})
        if request.url.path == "/v1/events":
            q = parse_qs(request.url.query.decode())
            after = int(q.get("after", ["0"])[0])
            limit = int(q.get("limit", ["100"])[0])
            page = self.events[after : after + limit]
            return httpx.Response(200, json={"events": page, "next_cursor": str(after + len(page))})
        if request.url.path in self.routes:
            return httpx.Response(200, content=json.dumps(self.routes[request.url.path]))
        return httpx.Response(404, json={"status": 404})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
