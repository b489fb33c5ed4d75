from __future__ import annotations

from fastapi import FastAPI

from services.kit.app import create_service_app

from .api import router
from .settings import CatalogueSettings


def create_app(settings: CatalogueSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or CatalogueSettings(),
        title="skillpass catalogue",
        schema="catalogue",
        routers=[router],
        description="The shortage occupation catalogue and the occupation classification.",
    )
