from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from services.kit.app import create_service_app
from services.kit.background import stop_task
from services.kit.context import install_context
from services.kit.http import service_client

from . import feed_sync
from .api import router
from .clients import AssessmentClient, CatalogueClient
from .deps import NAME, Context
from .settings import IncentivesSettings


def create_app(
    settings: IncentivesSettings | None = None,
    *,
    assessment_transport: httpx.AsyncBaseTransport | None = None,
    catalogue_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The transports let tests answer assessment and the catalogue with ``httpx.MockTransport``."""
    settings = settings or IncentivesSettings()
    assessment = AssessmentClient(
        service_client(settings, "assessment", settings.assessment_url, transport=assessment_transport)
    )
    catalogue = CatalogueClient(
        service_client(settings, "catalogue", settings.catalogue_url, transport=catalogue_transport),
        cache_ttl_s=settings.catalogue_cache_ttl_s,
    )

    async def startup(app: FastAPI) -> None:
        if settings.feed_poll:
            app.state.feed_poller = asyncio.create_task(
                feed_sync.poll_forever(app, assessment, settings.feed_poll_interval_s, settings.feed_page_size),
                name="assessment-feed",
            )

    async def shutdown(app: FastAPI) -> None:
        poller = getattr(app.state, "feed_poller", None)
        if poller is not None:
            await stop_task(poller)
        await assessment.aclose()
        await catalogue.aclose()

    app = create_service_app(
        settings,
        title="skillpass incentives",
        schema="incentives",
        routers=[router],
        on_startup=startup,
        on_shutdown=shutdown,
        description="Rule sets, settlement points, skill subsidies, university performance.",
    )
    install_context(app, NAME, Context(settings=settings, assessment=assessment, catalogue=catalogue))
    return app
