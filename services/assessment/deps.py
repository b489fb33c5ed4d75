"""What routes need besides the session: the catalogue client, the sealer, settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.kit.context import context_of
from services.kit.pii import Sealer
from services.kit.ratelimit import RateLimiter

from .clients import CatalogueClient, CreditBankClient
from .keys import KeyRing
from .settings import AssessmentSettings

NAME = "assessment"


@dataclass(frozen=True)
class Context:
    settings: AssessmentSettings
    catalogue: CatalogueClient
    credit_bank: CreditBankClient
    sealer: Sealer
    verify_limiter: RateLimiter
    credential_keys: KeyRing


async def get_context(request: Request) -> Context:
    return context_of(request.app, NAME, Context)


ContextDep = Annotated[Context, Depends(get_context)]
