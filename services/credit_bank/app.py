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
from .clients import AssessmentClient
from .deps import NAME, Context
from .policy import Policy
from .settings import CreditBankSettings


def create_app(
    settings: CreditBankSettings | None = None, *, assessment_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """``assessment_transport`` lets tests answer for assessment with an ``httpx.MockTransport``."""
    settings = settings or CreditBankSettings()
    assessment = AssessmentClient(
        service_client(
            settings,
            "assessment",
            settings.assessment_url or "http://assessment.invalid",
            transport=assessment_transport,
        )
    )

    async def startup(app: FastAPI) -> None:
        # Revocations and suspensions are followed only where assessment is configured.
        if settings.assessment_url:
            app.state.feed_follower = asyncio.create_task(
                feed_sync.poll_forever(app, assessment, settings.feed_poll_interval_s, settings.feed_page_size),
                name="assessment-feed",
            )

    async def shutdown(app: FastAPI) -> None:
        follower = getattr(app.state, "feed_follower", None)
        if follower is not None:
            await stop_task(follower)
        await assessment.aclose()

    app = create_service_app(
        settings,
        title="skillpass credit bank",
        schema="credit_bank",
        routers=[router],
        on_startup=startup,
        on_shutdown=shutdown,
        description="Learner accounts, outcomes, conversion rules and the credit ledger.",
    )
    install_context(
        app, NAME, Context(settings=settings, assessment=assessment, policy=Policy.load(settings.policy_path))
    )
    return app
