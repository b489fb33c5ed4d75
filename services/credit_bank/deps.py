"""What routes need besides the session and the principal: the credit bank's settings (add clients here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.kit.context import context_of

from .settings import CreditBankSettings

NAME = "credit_bank"


@dataclass(frozen=True)
class Context:
    settings: CreditBankSettings


async def get_context(request: Request) -> Context:
    return context_of(request.app, NAME, Context)


ContextDep = Annotated[Context, Depends(get_context)]
