"""Token buckets in Redis (issue 11): the same buckets as ``PostgresTokenBuckets``, for a
deployment that runs Redis and would rather not spend a database round trip per call. Selected by
settings (the gateway: ``SKILLPASS_GATEWAY_RATE_LIMIT_STORE=redis`` and
``SKILLPASS_GATEWAY_RATE_LIMIT_REDIS_URL``); PostgreSQL stays the default.

One Lua script per call refills the bucket by the time elapsed (Redis's own clock, so replicas'
clocks don't matter) and takes a token only if one is there: atomic, as Redis runs a script
alone. A bucket's key expires once it would be full again (a full bucket equals no key).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .problems import RateLimited
from .ratelimit import refuse_if_waiting

log = logging.getLogger("skillpass.ratelimit")

# KEYS[1] the bucket; ARGV rate (tokens/s), burst, key lifetime (ms). Returns {taken, level}:
# the level as a string (Redis would truncate a Lua number to an integer).
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(b[1]), tonumber(b[2])
if tokens == nil or at == nil then
  tokens, at = burst, now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {taken, string.format('%.6f', tokens)}
"""


class RedisTokenBuckets:
    """``await acquire(key)`` like ``PostgresTokenBuckets``: shared by every replica that uses the
    same Redis. Open, not shut: when Redis is away the call is let through (and logged)."""

    def __init__(self, url: str, prefix: str, rate: float, burst: int, *, client: Redis | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.prefix = rate, float(burst), prefix
        self.client: Redis = client or Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._take = self.client.register_script(TAKE)
        # Past this a bucket is full again: its key may go.
        self._ttl_ms = math.ceil(self.burst / self.rate * 1000) + 1000

    async def wait(self, key: str) -> float:
        """Takes one token; 0 when allowed, else seconds until one is there."""
        try:
            result: Any = await self._take(
                keys=[f"{self.prefix}:{key[:200]}"], args=[self.rate, self.burst, self._ttl_ms]
            )
        except (RedisError, OSError) as exc:
            log.warning("rate limit store unavailable, letting the call through: %s", type(exc).__name__)
            return 0.0
        taken, level = int(result[0]), float(result[1])
        if taken:
            return 0.0
        return max(0.0, (1.0 - level) / self.rate)

    async def acquire(
        self, key: str, problem: type[RateLimited] = RateLimited, detail: str = "rate limit exceeded"
    ) -> None:
        refuse_if_waiting(await self.wait(key), problem, detail)

    async def aclose(self) -> None:
        await self.client.aclose()
