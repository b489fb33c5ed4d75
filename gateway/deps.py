"""What the gateway's routes and proxy need besides the session: keys, upstreams, rate limits, settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.kit.auth import SigningKey
from services.kit.context import context_of
from services.kit.ratelimit import RateLimiter

from .settings import GatewaySettings
from .upstreams import Upstreams

NAME = "gateway"


@dataclass(frozen=True)
class Context:
    settings: GatewaySettings
    signing_key: SigningKey
    retired_keys: tuple[SigningKey, ...]
    upstreams: Upstreams
    rate_limiter: RateLimiter


def context(request: Request) -> Context:
    return context_of(request.app, NAME, Context)


async def get_context(request: Request) -> Context:
    """``async`` so that FastAPI calls it in the event loop, not in a worker thread per request."""
    return context(request)


ContextDep = Annotated[Context, Depends(get_context)]
