"""Routes of dynamic adjustment: signals, recommendations and their rule, proposals."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query

from services.kit.auth import Principal, require_roles
from services.kit.clock import today_in_shanghai
from services.kit.db import SessionDep
from services.kit.pages import Page, PageDep

from . import proposals, recommendations, signals
from .deps import ContextDep
from .schemas_adjust import (
    MAX_SIGNALS,
    PERIOD_PATTERN,
    DecisionIn,
    ProposalCreate,
    ProposalRead,
    Recommendations,
    RuleIn,
    RuleRead,
    SignalIn,
    SignalsResult,
)

router = APIRouter(prefix="/v1", tags=["adjustment"])
Admin = Annotated[Principal, require_roles("admin")]


@router.post("/signals", response_model=SignalsResult, summary="Labour-market observations (idempotent)")
async def post_signals(
    ctx: ContextDep,
    session: SessionDep,
    principal: Annotated[Principal, require_roles("admin", "platform")],
    body: Annotated[list[SignalIn], Body(max_length=MAX_SIGNALS)],
) -> SignalsResult:
    return await signals.record_signals(
        session, rows=body, classification=ctx.settings.classification, actor=principal.sub
    )


@router.get("/recommendations", response_model=Recommendations, summary="Shortage scores and verdicts")
async def get_recommendations(
    session: SessionDep,
    _: Admin,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN)],
    as_of: date | None = None,
) -> Recommendations:
    return await recommendations.recommend(session, period=period, as_of=as_of or today_in_shanghai())


@router.get("/recommendations/rule", response_model=RuleRead, summary="The weights and thresholds in force")
async def get_rule(session: SessionDep, _: Admin, as_of: date | None = None) -> RuleRead:
    return await recommendations.rule_in_force(session, as_of or today_in_shanghai())


@router.post("/recommendations/rules", response_model=RuleRead, status_code=201)
async def add_rule(body: RuleIn, session: SessionDep, principal: Admin) -> RuleRead:
    return await recommendations.add_rule(session, body=body, actor=principal.sub)


@router.post("/proposals", response_model=ProposalRead, status_code=201)
async def submit_proposal(body: ProposalCreate, session: SessionDep, principal: Admin) -> ProposalRead:
    return await proposals.submit(session, body=body, actor=principal.sub)


@router.get("/proposals", response_model=Page[ProposalRead])
async def list_proposals(
    session: SessionDep,
    _: Admin,
    page: PageDep,
    status: Literal["pending", "approved", "rejected"] | None = None,
) -> Page[ProposalRead]:
    return await proposals.list_proposals(session, page=page, status=status)


@router.get("/proposals/{proposal_id}", response_model=ProposalRead)
async def get_proposal(proposal_id: uuid.UUID, session: SessionDep, _: Admin) -> ProposalRead:
    return await proposals.get(session, proposal_id=proposal_id)


@router.post("/proposals/{proposal_id}/decision", response_model=ProposalRead)
async def decide_proposal(
    proposal_id: uuid.UUID, body: DecisionIn, session: SessionDep, principal: Admin
) -> ProposalRead:
    return await proposals.decide(session, proposal_id=proposal_id, body=body, actor=principal.sub)
