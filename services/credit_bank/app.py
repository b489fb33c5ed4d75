from __future__ import annotations

from fastapi import FastAPI

from services.kit.app import create_service_app
from services.kit.context import install_context

from .api import router
from .deps import NAME, Context
from .settings import CreditBankSettings


def create_app(settings: CreditBankSettings | None = None) -> FastAPI:
    settings = settings or CreditBankSettings()
    app = create_service_app(
        settings,
        title="skillpass credit bank",
        schema="credit_bank",
        routers=[router],
        description="Learner accounts, outcomes, conversion rules and the credit ledger.",
    )
    install_context(app, NAME, Context(settings=settings))
    return app
