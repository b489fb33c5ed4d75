from __future__ import annotations

import asyncio
from functools import partial

import httpx
from fastapi import FastAPI

from services.kit.app import create_service_app
from services.kit.background import stop_task
from services.kit.context import install_context
from services.kit.http import service_client

from . import conversions_feed, feed_sync
from .api import router
from .clients import AssessmentClient, CatalogueClient, CreditBankClient, StatisticsClient
from .deps import NAME, Context
from .settings import IncentivesSettings


def create_app(
    settings: IncentivesSettings | None = None,
    *,
    assessment_transport: httpx.AsyncBaseTransport | None = None,
    catalogue_transport: httpx.AsyncBaseTransport | None = None,
    credit_bank_transport: httpx.AsyncBaseTransport | None = None,
    statistics_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The transports let tests answer the other services with ``httpx.MockTransport``."""
    settings = settings or IncentivesSettings()
    assessment = AssessmentClient(
        service_client(settings, "assessment", settings.assessment_url, transport=assessment_transport)
    )
    catalogue = CatalogueClient(
        service_client(settings, "catalogue", settings.catalogue_url, transport=catalogue_transport),
        cache_ttl_s=settings.catalogue_cache_ttl_s,
    )
    credit_bank = CreditBankClient(
        service_client(settings, "credit bank", settings.credit_bank_url, transport=credit_bank_transport)
    )
    statistics = StatisticsClient(
        service_client(settings, "statistics", settings.statistics_url, transport=statistics_transport)
    )
    followers = {
        "assessment-feed": partial(
            feed_sync.sync_assessment_feed, client=assessment, page_size=settings.feed_page_size
        ),
        "credit-bank-feed": partial(
            conversions_feed.sync_credit_bank_feed, client=credit_bank, page_size=settings.feed_page_size
        ),
    }

    async def startup(app: FastAPI) -> None:
        if settings.feed_poll:
            app.state.feed_pollers = [
                asyncio.create_task(
                    feed_sync.poll_forever(app, sync, settings.feed_poll_interval_s, f"{name} sync"), name=name
                )
                for name, sync in followers.items()
            ]

    async def shutdown(app: FastAPI) -> None:
        for poller in getattr(app.state, "feed_pollers", []):
            await stop_task(poller)
        for client in (assessment, catalogue, credit_bank, statistics):
            await client.aclose()

    app = create_service_app(
        settings,
        title="skillpass incentives",
        schema="incentives",
        routers=[router],
        on_startup=startup,
        on_shutdown=shutdown,
        description="Rule sets, settlement points, skill subsidies, university performance.",
    )
    install_context(
        app,
        NAME,
        Context(
            settings=settings,
            assessment=assessment,
            catalogue=catalogue,
            credit_bank=credit_bank,
            statistics=statistics,
        ),
    )
    return app
