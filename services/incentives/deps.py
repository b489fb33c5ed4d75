"""What routes need besides the session: the clients of the other services, settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.kit.context import context_of

from .clients import AssessmentClient, CatalogueClient, CreditBankClient, StatisticsClient
from .settings import IncentivesSettings

NAME = "incentives"


@dataclass(frozen=True)
class Context:
    settings: IncentivesSettings
    assessment: AssessmentClient
    catalogue: CatalogueClient
    credit_bank: CreditBankClient
    statistics: StatisticsClient


async def get_context(request: Request) -> Context:
    return context_of(request.app, NAME, Context)


ContextDep = Annotated[Context, Depends(get_context)]
