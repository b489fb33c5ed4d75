from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI

from services.kit.app import create_service_app
from services.kit.background import stop_task
from services.kit.context import install_context
from services.kit.http import ServiceClient, service_client

from . import sync
from .api import router
from .deps import NAME, Context
from .settings import StatisticsSettings


def _client(
    settings: StatisticsSettings,
    name: str,
    url: str,
    transport: httpx.AsyncBaseTransport | None,
    token_provider: Callable[[], Awaitable[str]] | None,
) -> ServiceClient:
    if token_provider is None:
        return service_client(settings, name, url, transport=transport)
    return ServiceClient(name, url, token_provider=token_provider, transport=transport)


def create_app(
    settings: StatisticsSettings | None = None,
    *,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
    poll: bool = True,
    token_provider: Callable[[], Awaitable[str]] | None = None,
) -> FastAPI:
    """``transports`` lets tests put fakes (or other apps in-process) behind a source's URL."""
    settings = settings or StatisticsSettings()
    urls = {
        "assessment": settings.assessment_url,
        "catalogue": settings.catalogue_url,
        "credit_bank": settings.credit_bank_url,
        "incentives": settings.incentives_url,
    }
    sources: dict[str, ServiceClient | None] = {
        name: _client(settings, name, url, (transports or {}).get(name), token_provider) if url else None
        for name, url in urls.items()
    }

    async def startup(app: FastAPI) -> None:
        if poll and any(sources.values()):
            app.state.poller = asyncio.create_task(
                sync.poll_forever(app, settings.feed_poll_interval_s), name="statistics-feeds"
            )

    async def shutdown(app: FastAPI) -> None:
        poller = getattr(app.state, "poller", None)
        if poller is not None:
            await stop_task(poller)
        for client in sources.values():
            if client is not None:
                await client.aclose()

    app = create_service_app(
        settings,
        title="skillpass statistics",
        schema="statistics",
        routers=[router],
        on_startup=startup,
        on_shutdown=shutdown,
        description="The bureau's read model over every service's feed: statistics, effects, exports.",
    )
    install_context(app, NAME, Context(settings=settings, sources=sources))
    return app
