from __future__ import annotations

from fastapi import FastAPI

from services.kit.app import create_service_app

from .api import router
from .settings import AssessmentSettings


def create_app(settings: AssessmentSettings | None = None) -> FastAPI:
    return create_service_app(settings or AssessmentSettings(), title="skillpass assessment", schema="assessment",
                              routers=[router],
                              description="Filed assessment bodies, batch results, certificates, verification.")
