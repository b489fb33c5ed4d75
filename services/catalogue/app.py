from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from services.kit.app import create_service_app
from services.kit.http import service_client

from . import feed_sync
from .api import router
from .api_adjust import router as adjust_router
from .settings import CatalogueSettings


def create_app(
    settings: CatalogueSettings | None = None, *, assessment_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """``assessment_transport`` lets tests fake the assessment service (httpx.MockTransport)."""
    settings = settings or CatalogueSettings()

    async def startup(app: FastAPI) -> None:
        # The supply signal is read from assessment's feed only where assessment is configured.
        if settings.assessment_url:
            client = service_client(settings, "assessment", settings.assessment_url, transport=assessment_transport)
            app.state.assessment_client = client
            app.state.feed_poller = asyncio.create_task(
                feed_sync.poll_forever(app, client, settings.feed_poll_interval_s), name="assessment-feed"
            )

    async def shutdown(app: FastAPI) -> None:
        poller = getattr(app.state, "feed_poller", None)
        if poller is not None:
            await feed_sync.stop(poller)
            await app.state.assessment_client.aclose()

    return create_service_app(
        settings,
        title="skillpass catalogue",
        schema="catalogue",
        routers=[router, adjust_router],
        on_startup=startup,
        on_shutdown=shutdown,
        description="The shortage occupation catalogue and the occupation classification.",
    )
