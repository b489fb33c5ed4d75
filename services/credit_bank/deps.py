"""What routes need besides the session: the assessment client and the conversion policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.kit.context import context_of

from .clients import AssessmentClient
from .policy import Policy
from .settings import CreditBankSettings

NAME = "credit_bank"


@dataclass(frozen=True)
class Context:
    settings: CreditBankSettings
    assessment: AssessmentClient
    policy: Policy


async def get_context(request: Request) -> Context:
    return context_of(request.app, NAME, Context)


ContextDep = Annotated[Context, Depends(get_context)]
