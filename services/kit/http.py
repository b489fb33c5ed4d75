"""One pooled httpx client per upstream, with timeouts; failures become fast 503/504 problems."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from .obs import REQUEST_ID_HEADER, request_id_var
from .problems import UpstreamTimeout, UpstreamUnavailable


class ServiceClient:
    """Calls another service with a service token and the current request id."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        token_provider: Any = None,
        timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 50,
    ) -> None:
        self.name = name
        self._token_provider = token_provider
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault(REQUEST_ID_HEADER, request_id_var.get())
        if self._token_provider is not None:
            headers.setdefault("authorization", f"Bearer {await self._token_provider()}")
        try:
            resp = await self._client.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"{self.name} did not answer in time") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"{self.name} is unreachable") from exc
        if resp.status_code in (502, 503, 504):
            raise UpstreamUnavailable(f"{self.name} answered {resp.status_code}")
        return resp

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def aclose(self) -> None:
        await self._client.aclose()


class ClientCredentials:
    """Gets and caches a token from the gateway's ``/auth/token`` (client-credentials grant)."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.token_url = token_url
        self._transport = transport
        self._auth = (client_id, client_secret)
        self._token: str | None = None
        self._expires_at = 0.0
        self._timeout_s = timeout_s
        # One refresh at a time: without it, every request in flight when the token is missing fetched
        # its own, each building a client and an SSL context (incentives' single evaluate route under
        # 32 concurrent requests spent 44% of its time there at start-up; py-spy, issue 10b).
        self._refresh = asyncio.Lock()

    def _fresh(self) -> bool:
        return time.monotonic() <= self._expires_at - 60

    async def __call__(self) -> str:
        if self._token is None or not self._fresh():
            async with self._refresh:
                if self._token is None or not self._fresh():
                    self._token = await self._fetch()
        return self._token

    async def _fetch(self) -> str:
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s, transport=self._transport) as client:
                resp = await client.post(self.token_url, data={"grant_type": "client_credentials"}, auth=self._auth)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable("the token endpoint is unreachable") from exc
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"the token endpoint answered {resp.status_code}")
        body = resp.json()
        self._expires_at = time.monotonic() + float(body.get("expires_in", 300))
        return str(body["access_token"])


def service_client(
    settings: Any, name: str, base_url: str, transport: httpx.AsyncBaseTransport | None = None
) -> ServiceClient:
    """A client for another service that authenticates as this service (client credentials)."""
    provider = None
    if settings.client_id and settings.client_secret:
        provider = ClientCredentials(
            settings.shared.token_url,
            settings.client_id,
            settings.client_secret,
            timeout_s=settings.shared.http_timeout_s,
        )
    return ServiceClient(
        name,
        base_url,
        token_provider=provider,
        timeout_s=settings.shared.http_timeout_s,
        connect_timeout_s=settings.shared.http_connect_timeout_s,
        transport=transport,
    )
