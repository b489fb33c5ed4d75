"""A client of the public API as an outside system uses it: client credentials through the gateway.

It knows nothing of our code beyond the contract (API.md): it asks ``/auth/token`` for a token and
refreshes it before it expires, backs off on 429/503 honouring ``Retry-After``, and retries
connection errors (a gateway or service restarting) with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .registry import SERVICES

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class FeedSpec:
    """One change feed to follow: ``name`` names the mirror's table/file, ``path`` is under the gateway."""

    name: str
    path: str

    @classmethod
    def parse(cls, text: str) -> FeedSpec:
        """``credit-bank``, ``credit_bank`` or ``name=/api/x/v1/events``."""
        if "=" in text:
            name, _, path = text.partition("=")
            return cls(name.strip().replace("-", "_"), path.strip())
        segment = text.strip().replace("_", "-")
        return cls(segment.replace("-", "_"), f"/api/{segment}/v1/events")


def default_feeds() -> list[FeedSpec]:
    """Every service in the registry: a new service's feed is followed without code changes here."""
    return [FeedSpec(s.name, f"/api/{s.path}/v1/events") for s in SERVICES]


class FeedGone(Exception):
    """410: the cursor is older than the service keeps; re-list from the start of its history."""


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


def retry_after_s(value: str | None, default: float) -> float:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass
class Backoff:
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Exponential with full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


class ApiClient:
    """Authenticated calls through the gateway with token refresh, backoff and retries."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 30.0,
        refresh_margin_s: float = 60.0,
        backoff: Backoff | None = None,
        max_attempts: int = 12,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport)
        self._client_id, self._client_secret = client_id, client_secret
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_margin_s = refresh_margin_s
        self._backoff = backoff or Backoff()
        self._max_attempts = max_attempts
        self._sleep, self._clock = sleep, clock
        self._lock = asyncio.Lock()
        self.tokens_fetched = 0
        self.waits: list[float] = []  # every backoff taken, for the progress display and tests

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def token(self) -> str:
        """A valid access token, fetched again once less than the margin (or a fifth of its life) is left."""
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                body = (
                    await self._send(
                        "POST",
                        "/auth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(self._client_id, self._client_secret),
                    )
                ).json()
                lifetime = float(body["expires_in"])
                margin = min(self._refresh_margin_s, lifetime / 5)
                self._token = str(body["access_token"])
                self._expires_at = self._clock() + lifetime - margin
                self.tokens_fetched += 1
            return self._token

    async def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return (await self.request("GET", path, params=params)).json()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated call; a 401 (token revoked or rotated) fetches a new token once."""
        for refreshed in (False, True):
            headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {await self.token()}"}
            resp = await self._send(method, path, headers=headers, **kwargs)
            if resp.status_code != 401 or refreshed:
                break
            self._token = None
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
        if resp.status_code == 410:
            raise FeedGone(resp.text)
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, resp.text)
        return resp

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self._max_attempts):
            try:
                resp = await self._http.request(method, path, **kwargs)
            except (httpx.TransportError, httpx.TimeoutException):
                if attempt + 1 == self._max_attempts:
                    raise
                await self._wait(self._backoff.delay(attempt))
                continue
            if resp.status_code not in RETRY_STATUSES or attempt + 1 == self._max_attempts:
                return resp
            fallback = self._backoff.delay(attempt)
            await self._wait(retry_after_s(resp.headers.get("retry-after"), fallback))
        raise AssertionError("unreachable")

    async def _wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        await self._sleep(seconds)

    async def events(self, feed: FeedSpec, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        body = await self.get_json(feed.path, params)
        return list(body["events"]), body.get("next_cursor")
