from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.kit.auth import Principal, require_roles
from services.kit.db import SessionDep
from services.kit.pages import Page, PageDep

from . import programmes
from .schemas import ProgrammeCreate, ProgrammeRead

router = APIRouter(prefix="/v1", tags=["credit bank"])
AdminOrUniversity = Annotated[Principal, require_roles("admin", "university")]
Readers = Annotated[Principal, require_roles("admin", "university", "platform", "service")]


@router.post("/programmes", response_model=ProgrammeRead, status_code=201)
async def create_programme(data: ProgrammeCreate, session: SessionDep, principal: AdminOrUniversity) -> ProgrammeRead:
    return await programmes.create_programme(session, principal=principal, data=data)


@router.get("/programmes/{programme_id}", response_model=ProgrammeRead)
async def get_programme(programme_id: uuid.UUID, session: SessionDep, principal: Readers) -> ProgrammeRead:
    return await programmes.get_programme(session, principal=principal, programme_id=programme_id)


@router.get("/programmes", response_model=Page[ProgrammeRead])
async def list_programmes(
    session: SessionDep,
    principal: Readers,
    page: PageDep,
    university_org: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[ProgrammeRead]:
    return await programmes.list_programmes(session, principal=principal, page=page, university_org=university_org)
