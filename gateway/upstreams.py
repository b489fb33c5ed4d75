"""One pooled aiohttp session per upstream service, shared by the proxy and ``/api/me/summary``,
and for the proxy's hot path one lean HTTP/1.1 pool per ``http://`` upstream (gateway/upstream_http.py)."""

from __future__ import annotations

import asyncio

import aiohttp

from .upstream_http import Pool, pool_for


class Upstreams:
    """One pooled aiohttp session per upstream service."""

    def __init__(
        self,
        bases: dict[str, str],
        *,
        pool_size: int,
        timeout_s: float,
        connect_timeout_s: float,
        lean: bool = True,
    ) -> None:
        self.bases = {k: v.rstrip("/") for k, v in bases.items()}
        # The proxy's own client where it can serve the upstream (plain http, no path prefix).
        self.pools: dict[str, Pool | None] = {
            k: pool_for(v, limit=pool_size, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s, keepalive_s=30)
            if lean
            else None
            for k, v in self.bases.items()
        }
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s)
        self.sessions: dict[str, aiohttp.ClientSession] = {}

    def session(self, name: str) -> aiohttp.ClientSession:
        s = self.sessions.get(name)
        if s is None or s.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=30, ttl_dns_cache=300)
            s = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
            self.sessions[name] = s
        return s

    async def close(self) -> None:
        await asyncio.gather(
            *(s.close() for s in self.sessions.values()), *(p.close() for p in self.pools.values() if p is not None)
        )
