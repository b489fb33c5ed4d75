"""What routes need besides the session and the principal: the catalogue's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.kit.context import context_of

from .settings import CatalogueSettings

NAME = "catalogue"


@dataclass(frozen=True)
class Context:
    settings: CatalogueSettings


async def get_context(request: Request) -> Context:
    return context_of(request.app, NAME, Context)


ContextDep = Annotated[Context, Depends(get_context)]
