"""One token-bucket rate limiter for every limit we keep (the gateway's per-client limit, the
token endpoint, public verification): ``rate`` tokens a second, up to ``burst``, per key.

``TokenBucketLimiter`` keeps the buckets in the process; ``PostgresTokenBuckets`` keeps the same
buckets in PostgreSQL, shared by every replica. Both answer ``await acquire(key)``.

``LeasedBuckets`` is a layer over a shared store (any ``TokenStore``: PostgreSQL here, Redis
alike): each process takes a few of a key's tokens at once (a lease), answers from them in
memory, and goes back to the store only when they are spent or their short lease has run out —
one round trip per lease instead of one per call. docs/ratelimit.md states the exact semantics.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import NamedTuple, Protocol

import asyncpg
from sqlalchemy import Column, DateTime, Float, MetaData, PrimaryKeyConstraint, String, Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from .db import fetch_raw
from .problems import RateLimited

log = logging.getLogger("skillpass.ratelimit")


class RateLimiter(Protocol):
    async def acquire(
        self, key: str, problem: type[RateLimited] = RateLimited, detail: str = "rate limit exceeded"
    ) -> None: ...


def refuse_if_waiting(wait_s: float, problem: type[RateLimited], detail: str) -> None:
    """Every limiter's refusal: ``problem`` (429) with ``Retry-After`` in whole seconds, at least 1."""
    if wait_s > 0:
        raise problem(detail, headers={"Retry-After": str(max(1, math.ceil(wait_s)))})


class Grant(NamedTuple):
    """What a store gave: ``tokens`` taken (0 to the number asked for); when none, ``wait_s``
    until one will be there."""

    tokens: int
    wait_s: float


class TokenStore(Protocol):
    """A bucket store shared by every replica, as ``LeasedBuckets`` needs it: ``take`` atomically
    refills the key's bucket by elapsed time, adds back ``give_back`` unused tokens (never above
    ``burst``) and takes up to ``want`` whole tokens, as many as are there."""

    rate: float
    burst: float

    async def take(self, key: str, want: int, give_back: int = 0) -> Grant: ...


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
        refuse_if_waiting(self.wait(key), problem, detail)

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
        # ``take``: the row is locked by the inner SELECT ... FOR UPDATE, so the level it reads is
        # the one the UPDATE replaces (no other writer in between) and RETURNING can say how many
        # tokens this call got. A key without a row is a full bucket (``_take_new``).
        level = "LEAST(:burst, tokens + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - at)) * :rate + :back)"
        self._take_n = text(
            f"UPDATE {schema}.rate_buckets AS b SET tokens = o.level - o.got, at = o.now "
            f"FROM (SELECT key, level, now, CASE WHEN level >= 1 THEN LEAST(:want, floor(level)) ELSE 0 END AS got "
            f"FROM (SELECT key, {level} AS level, clock_timestamp() AS now "
            f"FROM {schema}.rate_buckets WHERE key = :k FOR UPDATE) AS s) AS o "
            f"WHERE b.key = o.key RETURNING o.got, o.level"
        )
        self._take_new = text(
            f"INSERT INTO {schema}.rate_buckets (key, tokens, at) "
            f"VALUES (:k, :burst - LEAST(:want, floor(:burst)), clock_timestamp()) "
            f"ON CONFLICT (key) DO NOTHING RETURNING LEAST(:want, floor(:burst))"
        )
        # The same two statements for ``take`` on the driver connection (``kit.db.fetch_raw``): each
        # is atomic on its own, so no transaction around them, and no SQLAlchemy execution context
        # (a lease take cost the gateway ~2 ms of CPU through the ORM session; issue 15g).
        # $1 key, $2 burst, $3 rate, $4 want, $5 give back.
        raw_level = (
            "LEAST($2::float8, tokens + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - at)) * $3::float8"
            " + $5::float8)"
        )
        self._raw_take_n = (
            f"UPDATE {schema}.rate_buckets AS b SET tokens = o.level - o.got, at = o.now "
            f"FROM (SELECT key, level, now, CASE WHEN level >= 1 THEN LEAST($4::float8, floor(level)) ELSE 0 END "
            f"AS got FROM (SELECT key, {raw_level} AS level, clock_timestamp() AS now "
            f"FROM {schema}.rate_buckets WHERE key = $1::text FOR UPDATE) AS s) AS o "
            f"WHERE b.key = o.key RETURNING o.got, o.level"
        )
        self._raw_take_new = (
            f"INSERT INTO {schema}.rate_buckets (key, tokens, at) "
            f"VALUES ($1::text, $2::float8 - LEAST($3::float8, floor($2::float8)), clock_timestamp()) "
            f"ON CONFLICT (key) DO NOTHING RETURNING LEAST($3::float8, floor($2::float8))"
        )
        self._raw_sweep = (
            f"DELETE FROM {schema}.rate_buckets WHERE at < clock_timestamp() - make_interval(secs => $1::float8)"
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
        refuse_if_waiting(await self.wait(key), problem, detail)

    async def take(self, key: str, want: int, give_back: int = 0) -> Grant:
        """Up to ``want`` tokens in one atomic step (``TokenStore``); ``give_back`` unused ones are
        added first. Open when the database is unavailable, like ``wait``: the lease is granted."""
        k, burst, rate = key[:200], self.burst, self.rate
        try:
            async with self.sessionmaker()() as session:
                got: tuple[float, float] | None = None
                while got is None:  # no row yet is a full bucket; another replica may insert it first
                    rows = await fetch_raw(session, self._raw_take_n, k, burst, rate, float(want), float(give_back))
                    if rows:
                        got = (float(rows[0][0]), float(rows[0][1]))
                        break
                    new = await fetch_raw(session, self._raw_take_new, k, burst, float(want))
                    if new:
                        got = (float(new[0][0]), burst)
                self._calls += 1
                if self._calls % self.SWEEP_EVERY == 0:
                    await fetch_raw(session, self._raw_sweep, burst / rate)
                if session.in_transaction():  # a session on a connection in a transaction (tests)
                    await session.commit()
        except (DBAPIError, OSError, asyncpg.PostgresError) as exc:
            # OSError includes the ConnectionError that kit.db.fetch_raw raises for a refused
            # checkout ("the database system is shutting down") or a connection lost mid-statement.
            log.warning("rate limit store unavailable, letting the calls through: %s", type(exc).__name__)
            return Grant(want, 0.0)
        taken, level = int(got[0]), got[1]
        if taken:
            return Grant(taken, 0.0)
        return Grant(0, max(0.0, (1.0 - level) / self.rate))


class _Lease:
    """One key's tokens in this process: the lease being spent, the next one (taken ahead), the
    expired tokens to hand back with the next take, and the take under way."""

    __slots__ = ("back", "next", "next_until", "refill", "tokens", "until")

    def __init__(self) -> None:
        self.tokens, self.until = 0, 0.0
        self.next, self.next_until = 0, 0.0
        self.back = 0
        self.refill: asyncio.Task[float] | None = None


class LeasedBuckets:
    """A per-process lease layer over a shared ``TokenStore``.

    A call spends one token of the key's local lease. ``store.take`` asks for a lease of
    ``lease_size`` tokens (fewer if fewer are there) and hands back, in the same round trip, the
    tokens of leases that ran out unspent: a lease may be spent only for ``lease_s`` from the
    moment its take was sent. The call that finds the lease half spent or half over takes the
    next one while the other calls go on spending this one, so about one call per lease waits
    for the store; a call that finds no token waits for the take under way (one per key at a
    time) instead of going to the store itself.

    Every call let through spent a token taken from the shared bucket, and spent it within
    ``lease_s`` of its take, so in any window the replicas together let through at most
    ``rate × lease_s`` more than the bucket alone would, and a process never holds more than
    ``2 × lease_size`` tokens. The other way, a client may be refused while another replica
    still holds some of its tokens (for ≤ ``lease_s``). ``lease_size`` is ``rate × lease_s``
    capped by ``max_lease`` and a quarter of ``burst``, at least 1; with a lease of one token
    nothing is taken ahead, every call goes to the store and the limit is exact.
    """

    def __init__(
        self,
        store: TokenStore,
        lease_s: float = 0.1,
        max_lease: int = 100,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.lease_s, self.max_keys, self.clock = store, lease_s, max_keys, clock
        self.lease_size = max(1, min(max_lease, int(store.rate * lease_s), int(store.burst // 4)))
        self._low = self.lease_size // 2 if self.lease_size > 1 else -1  # -1: never take ahead
        self._leases: dict[str, _Lease] = {}

    async def wait(self, key: str) -> float:
        """Takes one token; 0 when allowed, else seconds until one is available."""
        lease = self._leases.get(key)
        if lease is None:
            if len(self._leases) >= self.max_keys:
                self._prune()
            lease = self._leases[key] = _Lease()
        while True:
            now = self.clock()
            if self._spend(lease, now):
                if lease.refill is None and not lease.next and self._running_low(lease, now):
                    # This call takes the next lease (and waits for it) while the others go on
                    # spending this one: no take outlives the call that made it.
                    lease.refill = asyncio.ensure_future(self._take(key, lease))
                    await asyncio.shield(lease.refill)
                return 0.0
            if lease.refill is None:
                lease.refill = asyncio.ensure_future(self._take(key, lease))
            wait = await asyncio.shield(lease.refill)
            if wait > 0:
                return wait

    @staticmethod
    def _spend(lease: _Lease, now: float) -> bool:
        """Spends a token of the lease, moving to the next lease when this one is spent; tokens
        of a lease whose time ran out are kept to be handed back."""
        if lease.tokens and now >= lease.until:
            lease.back, lease.tokens = lease.back + lease.tokens, 0
        if lease.next and now >= lease.next_until:
            lease.back, lease.next = lease.back + lease.next, 0
        if not lease.tokens and lease.next:
            lease.tokens, lease.until, lease.next = lease.next, lease.next_until, 0
        if not lease.tokens:
            return False
        lease.tokens -= 1
        return True

    def _running_low(self, lease: _Lease, now: float) -> bool:
        """Half spent or half over (never with leases of one token: the exact case)."""
        return self._low >= 0 and (lease.tokens <= self._low or now >= lease.until - self.lease_s / 2)

    async def _take(self, key: str, lease: _Lease) -> float:
        """One round trip; the tokens become ``lease.next``. Answers the wait when none came."""
        back, lease.back = lease.back, 0
        sent = self.clock()
        try:
            grant = await self.store.take(key, self.lease_size, back)
        finally:
            lease.refill = None
        if grant.tokens <= 0:
            return grant.wait_s or 1.0 / self.store.rate
        lease.next, lease.next_until = lease.next + grant.tokens, sent + self.lease_s
        return 0.0

    async def settle(self) -> None:
        """Waits for the takes under way (shutdown, tests)."""
        await asyncio.gather(*(v.refill for v in self._leases.values() if v.refill), return_exceptions=True)

    def _prune(self) -> None:
        now = self.clock()
        for k in [k for k, v in self._leases.items() if v.refill is None and now >= max(v.until, v.next_until)]:
            del self._leases[k]
        if len(self._leases) >= self.max_keys:
            self._leases = {k: v for k, v in self._leases.items() if v.refill is not None}

    async def acquire(
        self, key: str, problem: type[RateLimited] = RateLimited, detail: str = "rate limit exceeded"
    ) -> None:
        refuse_if_waiting(await self.wait(key), problem, detail)
