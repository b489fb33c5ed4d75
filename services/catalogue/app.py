from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from services.kit.app import create_service_app
from services.kit.background import stop_task
from services.kit.context import install_context
from services.kit.db import sessionmaker_of
from services.kit.http import ServiceClient, service_client

from . import feed_sync
from .api import router
from .api_adjust import router as adjust_router
from .deps import NAME, Context
from .settings import CatalogueSettings


def create_app(
    settings: CatalogueSettings | None = None, *, assessment_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """``assessment_transport`` lets tests fake the assessment service (httpx.MockTransport)."""
    settings = settings or CatalogueSettings()
    poller: asyncio.Task[None] | None = None
    assessment: ServiceClient | None = None

    async def startup(app: FastAPI) -> None:
        nonlocal poller, assessment
        # The supply signal is read from assessment's feed only where assessment is configured.
        if settings.assessment_url:
            assessment = service_client(settings, "assessment", settings.assessment_url, transport=assessment_transport)
            poller = asyncio.create_task(
                feed_sync.poll_forever(sessionmaker_of(app), assessment, settings), name="assessment-feed"
            )
            app.state.feed_poller = poller  # for whoever watches the poller (tests do)

    async def shutdown(_: FastAPI) -> None:
        if poller is not None:
            await stop_task(poller)
        if assessment is not None:
            await assessment.aclose()

    app = create_service_app(
        settings,
        title="skillpass catalogue",
        schema="catalogue",
        routers=[router, adjust_router],
        on_startup=startup,
        on_shutdown=shutdown,
        description="The shortage occupation catalogue and the occupation classification.",
    )
    install_context(app, NAME, Context(settings=settings))
    return app
