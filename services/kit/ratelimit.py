"""One token-bucket rate limiter for every limit we keep (the gateway's per-client limit, the
token endpoint, public verification): ``rate`` tokens a second, up to ``burst``, per key.

In-process: each replica keeps its own buckets (a shared store is future work, see
docs/security.md).
"""

from __future__ import annotations

import math
import time

from .problems import RateLimited


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
