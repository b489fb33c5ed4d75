"""Public verification by number and name: masked answers only, rate-limited per client IP."""

from __future__ import annotations

import hmac
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
