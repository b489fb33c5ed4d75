"""What routes need besides the session: the catalogue client, the sealer, settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.kit.auth import SigningKey
from services.kit.pii import Sealer
from services.kit.ratelimit import TokenBucketLimiter

from .clients import CatalogueClient
from .settings import AssessmentSettings


@dataclass(frozen=True)
class Context:
    settings: AssessmentSettings
    catalogue: CatalogueClient
    sealer: Sealer
    verify_limiter: TokenBucketLimiter
    credential_key: SigningKey


def get_context(request: Request) -> Context:
    ctx: Context = request.app.state.assessment
    return ctx


ContextDep = Annotated[Context, Depends(get_context)]
