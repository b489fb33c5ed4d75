from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.kit.auth import Principal, PrincipalDep, require_roles
from services.kit.db import SessionDep
from services.kit.pages import Page, PageDep

from . import rulesets
from .schemas import RuleSetCreate, RuleSetRead, Scheme

router = APIRouter(prefix="/v1", tags=["incentives"])
Admin = Annotated[Principal, require_roles("admin")]


@router.get("/rulesets", response_model=Page[RuleSetRead])
async def list_rulesets(
    session: SessionDep, _: PrincipalDep, page: PageDep, scheme: Annotated[Scheme | None, Query()] = None
) -> Page[RuleSetRead]:
    return await rulesets.list_rulesets(session, page=page, scheme=scheme)


@router.get("/rulesets/{ruleset_id}", response_model=RuleSetRead)
async def get_ruleset(ruleset_id: uuid.UUID, session: SessionDep, _: PrincipalDep) -> RuleSetRead:
    return await rulesets.get_ruleset(session, ruleset_id=ruleset_id)


@router.post("/rulesets", response_model=RuleSetRead, status_code=201)
async def create_ruleset(data: RuleSetCreate, session: SessionDep, _: Admin) -> RuleSetRead:
    return await rulesets.create_ruleset(session, data=data)


@router.post("/rulesets/{ruleset_id}/publish", response_model=RuleSetRead)
async def publish_ruleset(ruleset_id: uuid.UUID, session: SessionDep, _: Admin) -> RuleSetRead:
    return await rulesets.publish_ruleset(session, ruleset_id=ruleset_id)
