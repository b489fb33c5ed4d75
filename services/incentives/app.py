from __future__ import annotations

from fastapi import FastAPI

from services.kit.app import create_service_app
from services.kit.context import install_context

from .api import router
from .deps import NAME, Context
from .settings import IncentivesSettings


def create_app(settings: IncentivesSettings | None = None) -> FastAPI:
    settings = settings or IncentivesSettings()
    app = create_service_app(
        settings,
        title="skillpass incentives",
        schema="incentives",
        routers=[router],
        description="Rule sets, settlement points, skill subsidies, university performance.",
    )
    install_context(app, NAME, Context(settings=settings))
    return app
