"""What routes need besides the session: the assessment client and the conversion policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .clients import AssessmentClient
from .policy import Policy
from .settings import CreditBankSettings


@dataclass(frozen=True)
class Context:
    settings: CreditBankSettings
    assessment: AssessmentClient
    policy: Policy


def get_context(request: Request) -> Context:
    ctx: Context = request.app.state.credit_bank
    return ctx


ContextDep = Annotated[Context, Depends(get_context)]
