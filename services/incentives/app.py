from __future__ import annotations

from fastapi import FastAPI

from services.kit.app import create_service_app

from .api import router
from .settings import IncentivesSettings


def create_app(settings: IncentivesSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or IncentivesSettings(),
        title="skillpass incentives",
        schema="incentives",
        routers=[router],
        description="Rule sets, settlement points, skill subsidies, university performance.",
    )
