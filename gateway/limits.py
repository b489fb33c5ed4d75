"""Which store keeps the gateway's token buckets (``SKILLPASS_GATEWAY_RATE_LIMIT_STORE``):
PostgreSQL (default, shared by every replica), Redis (shared, when one is configured), or memory
(per process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.ratelimit import LeasedBuckets, PostgresTokenBuckets, RateLimiter, TokenBucketLimiter
from services.kit.ratelimit_redis import RedisTokenBuckets

from .settings import GatewaySettings


def rate_limit_store(
    settings: GatewaySettings, sessionmaker: Callable[[], async_sessionmaker[AsyncSession]]
) -> RateLimiter:
    rate, burst = settings.rate_limit_per_s, settings.rate_limit_burst
    if settings.rate_limit_store == "redis":
        if not settings.rate_limit_redis_url:
            raise ValueError(
                "rate_limit_store=redis needs rate_limit_redis_url (SKILLPASS_GATEWAY_RATE_LIMIT_REDIS_URL)"
            )
        return RedisTokenBuckets(settings.rate_limit_redis_url, "skillpass:gateway:rl", rate, burst)
    if settings.rate_limit_store == "postgres":
        # Shared by every replica, read through per-process leases: one round trip per lease, not
        # per call (issue 15; rate_limit_lease_s 0 = a round trip per call).
        store = PostgresTokenBuckets(sessionmaker, "gateway", rate, burst)
        if settings.rate_limit_lease_s <= 0:
            return store
        return LeasedBuckets(store, lease_s=settings.rate_limit_lease_s, max_lease=settings.rate_limit_max_lease)
    return TokenBucketLimiter(rate, burst)


async def close_store(limiter: Any) -> None:
    """Closes a store that holds connections of its own (Redis)."""
    aclose = getattr(limiter, "aclose", None)
    if aclose is not None:
        await aclose()
