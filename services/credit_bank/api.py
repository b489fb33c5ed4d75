from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from services.kit.auth import Principal, PrincipalDep, require_roles
from services.kit.db import SessionDep, reader_of
from services.kit.idempotency import IdempotencyKey
from services.kit.pages import Page, PageDep

from . import accounts, bulk, conversions, outcomes, programmes, rules
from .deps import ContextDep
from .schemas import (
    AccountRead,
    ConversionBatch,
    ConversionBatchRead,
    ConversionCreate,
    ConversionRead,
    LedgerEntryRead,
    OutcomeBatch,
    OutcomeBatchRead,
    OutcomeCreate,
    OutcomeRead,
    ProgrammeCreate,
    ProgrammeRead,
    RuleCreate,
    RuleRead,
    Transcript,
)

router = APIRouter(prefix="/v1", tags=["credit bank"])
AdminOrUniversity = Annotated[Principal, require_roles("admin", "university")]
Readers = Annotated[Principal, require_roles("admin", "university", "platform", "service")]
Depositors = Annotated[Principal, require_roles("admin", "university", "student", "service")]
Converters = Annotated[Principal, require_roles("admin", "university", "student")]
# University information systems (and admin) send batches; students use the single routes.
Batchers = Annotated[Principal, require_roles("admin", "university")]
LearnerPath = Annotated[str, Query(max_length=64)]


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


@router.post("/rules", response_model=RuleRead, status_code=201)
async def create_rule(data: RuleCreate, session: SessionDep, principal: AdminOrUniversity, ctx: ContextDep) -> RuleRead:
    return await rules.create_rule(session, principal=principal, data=data, policy=ctx.policy)


@router.get("/rules/{rule_id}", response_model=RuleRead)
async def get_rule(rule_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> RuleRead:
    return await rules.get_rule(session, principal=principal, rule_id=rule_id)


@router.get("/rules", response_model=Page[RuleRead])
async def list_rules(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    programme_id: uuid.UUID | None = None,
    occupation_code: Annotated[str | None, Query(max_length=20)] = None,
    as_of: date | None = None,
) -> Page[RuleRead]:
    return await rules.list_rules(
        session, principal=principal, page=page, programme_id=programme_id, occupation_code=occupation_code, as_of=as_of
    )


@router.post(
    "/outcomes",
    response_model=OutcomeRead,
    status_code=201,
    responses={200: {"model": OutcomeRead, "description": "the certificate was deposited before: the same outcome"}},
)
async def deposit_outcome(
    data: OutcomeCreate,
    session: SessionDep,
    principal: Depositors,
    ctx: ContextDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    status, body = await outcomes.deposit(
        session, ctx.assessment, principal=principal, data=data, idempotency_key=idempotency_key
    )
    return JSONResponse(body, status_code=status)


@router.post("/outcomes/batch", response_model=OutcomeBatchRead)
async def deposit_outcomes(
    data: OutcomeBatch,
    session: SessionDep,
    principal: Batchers,
    ctx: ContextDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Up to 1,000 deposits in one request, each as ``POST /outcomes`` (a row per item: deposited,
    existing or rejected with the problem); every certificate checked with assessment in one call."""
    status, body = await bulk.deposit_many(
        session, ctx.assessment, principal=principal, data=data, idempotency_key=idempotency_key
    )
    return JSONResponse(body, status_code=status)


@router.post("/conversions/batch", response_model=ConversionBatchRead)
async def convert_batch(
    data: ConversionBatch, session: SessionDep, principal: Batchers, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Up to 1,000 conversions in one request, decided in order as ``POST /conversions`` would
    (a row per item: converted, or rejected with the problem the single route answers)."""
    status, body = await bulk.convert_many(session, principal=principal, data=data, idempotency_key=idempotency_key)
    return JSONResponse(body, status_code=status)


@router.post("/conversions", response_model=ConversionRead, status_code=201)
async def convert(
    data: ConversionCreate, session: SessionDep, principal: Converters, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    status, body = await conversions.convert(session, principal=principal, data=data, idempotency_key=idempotency_key)
    return JSONResponse(body, status_code=status)


@router.get("/accounts/{learner_id}", response_model=AccountRead)
async def get_account(learner_id: str, session: SessionDep, principal: PrincipalDep) -> AccountRead:
    return await accounts.get_account(session, principal=principal, learner_id=learner_id)


@router.get("/accounts/{learner_id}/ledger", response_model=Page[LedgerEntryRead])
async def get_ledger(
    learner_id: str, session: SessionDep, principal: PrincipalDep, page: PageDep
) -> Page[LedgerEntryRead]:
    return await accounts.list_ledger(session, principal=principal, learner_id=learner_id, page=page)


@router.get("/accounts/{learner_id}/transcript", response_model=Transcript)
async def get_transcript(learner_id: str, request: Request, principal: PrincipalDep) -> Response:
    # One statement without an ORM session, serialised once (GET /api/me/summary composes the
    # transcript: issue 15, B3); the reader straight from the app, not one more dependency.
    answer = await accounts.transcript(reader_of(request.app), principal=principal, learner_id=learner_id)
    return Response(answer.model_dump_json(), media_type="application/json")
