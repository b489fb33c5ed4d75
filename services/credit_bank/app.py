from __future__ import annotations

from fastapi import FastAPI

from services.kit.app import create_service_app

from .api import router
from .settings import CreditBankSettings


def create_app(settings: CreditBankSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or CreditBankSettings(),
        title="skillpass credit bank",
        schema="credit_bank",
        routers=[router],
        description="Learner accounts, outcomes, conversion rules and the credit ledger.",
    )
