"""Public verification by number and name: masked answers only, rate-limited per client IP."""

from __future__ import annotations

import hmac
import time
import unicodedata

from sqlalchemy import select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.pii import mask_name
from services.kit.problems import RateLimited

from .models import Body, Certificate
from .schemas import VerifyAnswer


class TooManyVerifications(RateLimited):
    type_ = "verify-rate-limited"
    title = "Too many verification requests from this address"


class IpRateLimiter:
    """A token bucket per client IP: ``rate`` a second, up to ``burst``; the table is bounded."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, float(burst), max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise TooManyVerifications(
                "slow down", headers={"Retry-After": str(max(1, round((1 - tokens) / self.rate)))}
            )
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()
        self._buckets[key] = (tokens - 1.0, now)


def client_ip(forwarded_for: str | None, peer: str | None, *, behind_gateway: bool) -> str:
    """Behind the gateway only its own hop (the last) is trusted; earlier hops are client-supplied."""
    if behind_gateway and forwarded_for:
        return forwarded_for.split(",")[-1].strip() or (peer or "unknown")
    return peer or "unknown"


def _same_name(given: str, held: str) -> bool:
    a = unicodedata.normalize("NFKC", given).strip().encode()
    b = unicodedata.normalize("NFKC", held).strip().encode()
    return hmac.compare_digest(a, b)


async def verify(session: AsyncSession, *, number: str, name: str) -> VerifyAnswer:
    """Found only when number and holder name both match, so a number never reveals its holder."""
    row = (
        await session.execute(
            select(Certificate, col(Body.name))
            .join(Body, col(Body.id) == col(Certificate.body_id))
            .where(col(Certificate.number) == number.strip().upper())
        )
    ).first()
    if row is None or not _same_name(name, row[0].holder_name):
        return VerifyAnswer(found=False)
    certificate, body_name = row
    return VerifyAnswer(
        found=True,
        status=certificate.status,
        occupation_name=certificate.occupation_name,
        level=certificate.level,
        issued_on=certificate.issued_on,
        body_name=body_name,
        holder_name_masked=mask_name(certificate.holder_name),
    )
