from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.kit.auth import Principal, require_roles
from services.kit.db import SessionDep
from services.kit.pages import Page, PageDep

from . import bodies
from .schemas import BodyCreate, BodyRead

router = APIRouter(prefix="/v1", tags=["assessment"])
Admin = Annotated[Principal, require_roles("admin")]
AdminOrUniversity = Annotated[Principal, require_roles("admin", "university")]


@router.post("/bodies", response_model=BodyRead, status_code=201)
async def create_body(data: BodyCreate, session: SessionDep, _: Admin) -> BodyRead:
    return await bodies.create_body(session, data=data)


@router.get("/bodies/{body_id}", response_model=BodyRead)
async def get_body(body_id: uuid.UUID, session: SessionDep, principal: AdminOrUniversity) -> BodyRead:
    return await bodies.get_body(session, principal=principal, body_id=body_id)


@router.get("/bodies", response_model=Page[BodyRead])
async def list_bodies(session: SessionDep, principal: AdminOrUniversity, page: PageDep,
                      university_org: Annotated[str | None, Query(max_length=100)] = None) -> Page[BodyRead]:
    return await bodies.list_bodies(session, principal=principal, page=page, university_org=university_org)
