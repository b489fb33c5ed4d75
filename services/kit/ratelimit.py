"""One token-bucket rate limiter for every limit we keep (the gateway's per-client limit, the
token endpoint, public verification): ``rate`` tokens a second, up to ``burst``, per key.

``TokenBucketLimiter`` keeps the buckets in the process; ``PostgresTokenBuckets`` keeps the same
buckets in PostgreSQL, shared by every replica. Both answer ``await acquire(key)``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Column, DateTime, Float, MetaData, PrimaryKeyConstraint, String, Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from .problems import RateLimited

log = logging.getLogger("skillpass.ratelimit")


class RateLimiter(Protocol):
    async def acquire(
        self, key: str, problem: type[RateLimited] = RateLimited, detail: str = "rate limit exceeded"
    ) -> None: ...


class TokenBucketLimiter:
    """Per-key token buckets; the table is bounded (cleared when ``max_keys`` is reached)."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.max_keys = rate, float(burst), max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def wait(self, key: str) -> float:
        """Takes one token; returns 0 when allowed, else seconds until one is available."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0

    def take(self, key: str, problem: type[RateLimited] = RateLimited, detail: str = "rate limit exceeded") -> None:
        """Takes one token or raises ``problem`` (429) with ``Retry-After`` in whole seconds."""
        wait = self.wait(key)
        if wait > 0:
            raise problem(detail, headers={"Retry-After": str(max(1, math.ceil(wait)))})

    async def acquire(
        self, key: str, problem: type[RateLimited] = RateLimited, detail: str = "rate limit exceeded"
    ) -> None:
        self.take(key, problem, detail)


def rate_buckets_table(metadata: MetaData) -> Table:
    """Token buckets shared by every replica of a process (``PostgresTokenBuckets``)."""
    return Table(
        "rate_buckets",
        metadata,
        Column("key", String(200), nullable=False),
        Column("tokens", Float, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("key"),
    )


class PostgresTokenBuckets:
    """The same buckets kept in PostgreSQL, so that a client's limit holds across every replica
    (two gateway processes give a client no more than one would). One atomic upsert per call:
    the bucket refills by elapsed time, and a call takes a token only if one is there.

    Rows of full buckets are equal to no row; they are swept now and then.
    """

    SWEEP_EVERY = 1000

    def __init__(
        self, sessionmaker: Callable[[], async_sessionmaker[AsyncSession]], schema: str, rate: float, burst: int
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.sessionmaker, self.schema, self.rate, self.burst = sessionmaker, schema, rate, float(burst)
        self._calls = 0
        refill = "LEAST(:burst, b.tokens + EXTRACT(EPOCH FROM clock_timestamp() - b.at) * :rate)"
        # One statement: take a token if one is there; else report the level (for Retry-After).
        self._take = text(
            f"WITH taken AS (INSERT INTO {schema}.rate_buckets AS b (key, tokens, at) "
            f"VALUES (:k, :burst - 1, clock_timestamp()) "
            f"ON CONFLICT (key) DO UPDATE SET tokens = {refill} - 1, at = clock_timestamp() "
            f"WHERE {refill} >= 1 RETURNING 1) "
            f"SELECT EXISTS (SELECT 1 FROM taken), (SELECT {refill} FROM {schema}.rate_buckets AS b WHERE key = :k)"
        )
        self._sweep = text(
            f"DELETE FROM {schema}.rate_buckets WHERE at < clock_timestamp() - make_interval(secs => :full)"
        )

    async def wait(self, key: str) -> float:
        params = {"k": key[:200], "burst": self.burst, "rate": self.rate}
        try:
            async with self.sessionmaker()() as session:
                taken, level = (await session.execute(self._take, params)).one()
                self._calls += 1
                if self._calls % self.SWEEP_EVERY == 0:
                    await session.execute(self._sweep, {"full": self.burst / self.rate})
                await session.commit()
        except (DBAPIError, OSError) as exc:
            # Open, not shut: a database restart must not turn every call into an error here;
            # the services behind answer for themselves.
            log.warning("rate limit store unavailable, letting the call through: %s", type(exc).__name__)
            return 0.0
        if taken:
            return 0.0
        return max(0.0, (1.0 - float(level or 0.0)) / self.rate)

    async def acquire(
        self, key: str, problem: type[RateLimited] = RateLimited, detail: str = "rate limit exceeded"
    ) -> None:
        wait = await self.wait(key)
        if wait > 0:
            raise problem(detail, headers={"Retry-After": str(max(1, math.ceil(wait)))})
