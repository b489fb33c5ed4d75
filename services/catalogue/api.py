from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.kit.auth import PrincipalDep
from services.kit.db import SessionDep
from services.kit.pages import Page, PageDep

from . import occupations
from .schemas import OccupationRead

router = APIRouter(prefix="/v1", tags=["catalogue"])


@router.get("/occupations", response_model=Page[OccupationRead])
async def list_occupations(session: SessionDep, _: PrincipalDep, page: PageDep,
                           q: Annotated[str | None, Query(max_length=50)] = None,
                           major: Annotated[str | None, Query(pattern=r"^[1-8]$")] = None) -> Page[OccupationRead]:
    return await occupations.list_occupations(session, page=page, q=q, major=major)


@router.get("/occupations/{code}", response_model=OccupationRead)
async def get_occupation(code: str, session: SessionDep, _: PrincipalDep) -> OccupationRead:
    return await occupations.get_occupation(session, code=code)
