"""What routes need besides the session and the principal: the statistics service's settings and its feed sources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.kit.context import context_of
from services.kit.http import ServiceClient

from .settings import StatisticsSettings

NAME = "statistics"


@dataclass(frozen=True)
class Context:
    settings: StatisticsSettings
    # The services whose feeds the read model follows; None where a source is not configured.
    sources: dict[str, ServiceClient | None]


def context(request: Request) -> Context:
    return context_of(request.app, NAME, Context)


async def get_context(request: Request) -> Context:
    """``async`` so that FastAPI calls it in the event loop, not in a worker thread per request."""
    return context(request)


ContextDep = Annotated[Context, Depends(get_context)]
