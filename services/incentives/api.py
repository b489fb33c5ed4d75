from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from services.kit.auth import Principal, PrincipalDep, require_roles
from services.kit.db import SessionDep, reader_of
from services.kit.idempotency import IdempotencyKey
from services.kit.pages import Page, PageDep

from . import district_funding, payments, performance, points, points_batch, rulesets, subsidies
from .deps import ContextDep
from .schemas import (
    AllocationIn,
    AllocationRead,
    ClaimIn,
    ClaimRead,
    DecisionIn,
    DistrictFundingIn,
    DistrictFundingRead,
    EvaluateIn,
    EvaluationRead,
    PerformanceRead,
    RankingRead,
    RerunRead,
    RuleSetCreate,
    RuleSetRead,
    Scheme,
    SimulateIn,
)

router = APIRouter(prefix="/v1", tags=["incentives"])
Admin = Annotated[Principal, require_roles("admin")]
Evaluator = Annotated[Principal, require_roles("student", "university", "admin")]
Reader = Annotated[Principal, require_roles("student", "university", "admin", "platform")]
Claimant = Annotated[Principal, require_roles("student", "university")]
AdminOrUniversity = Annotated[Principal, require_roles("admin", "university")]
AdminOrPlatform = Annotated[Principal, require_roles("admin", "platform")]
LearnerQuery = Annotated[str, Query(min_length=1, max_length=64)]
Year = Annotated[int, Query(ge=2000, le=2100)]
# GETs that answer 409 when no rule set is in force that year (the kit documents 409 on writes only).
NO_RULESET: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "No rule set of the scheme is in force that year",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


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


@router.post("/points/evaluate", response_model=EvaluationRead, summary="Points under the rule set in force; stored")
async def evaluate(
    data: EvaluateIn, session: SessionDep, principal: Evaluator, ctx: ContextDep, response: Response
) -> EvaluationRead:
    waited = points.Waited()
    answer = await points.evaluate(session, ctx, principal=principal, data=data, waited=waited)
    response.headers["Server-Timing"] = waited.header()  # time spent on assessment and the catalogue
    return answer


@router.post(
    "/points/evaluate/batch",
    response_model=points_batch.EvaluationBatchRead,
    summary=f"Points for up to {points_batch.MAX_BATCH:,} learners in one call; each stored (admin; university: "
    "its own students)",
)
async def evaluate_batch(
    data: points_batch.EvaluateBatchIn,
    session: SessionDep,
    principal: AdminOrUniversity,
    ctx: ContextDep,
) -> Response:
    waited = points.Waited()
    body = await points_batch.evaluate_batch(session, ctx, principal=principal, data=data, waited=waited)
    # time spent on assessment and the catalogue, and in all (the answer is already serialised);
    # once it is sent, the batch's freed memory goes back to the system (points_batch.give_back_memory)
    headers = {"Server-Timing": waited.header()}
    return Response(body, media_type="application/json", headers=headers, background=points_batch.GIVE_BACK)


@router.post("/points/simulate", response_model=EvaluationRead, summary="As evaluate, with hypothetical certificates")
async def simulate(data: SimulateIn, session: SessionDep, principal: Evaluator, ctx: ContextDep) -> EvaluationRead:
    return await points.simulate(
        session, ctx, principal=principal, data=data, hypothetical=data.hypothetical_certificates
    )


@router.get("/points/evaluations", response_model=Page[EvaluationRead])
async def list_evaluations(request: Request, principal: Reader, page: PageDep, learner_id: LearnerQuery) -> Response:
    # No ORM session, serialised once (the gateway's summary composes this list: issue 15, B3).
    reader = reader_of(request.app)
    answer = await points.list_evaluations(reader, principal=principal, learner_id=learner_id, page=page)
    return Response(answer.model_dump_json(), media_type="application/json")


@router.post("/points/evaluations/{evaluation_id}/rerun", response_model=RerunRead)
async def rerun(evaluation_id: uuid.UUID, session: SessionDep, principal: Evaluator, ctx: ContextDep) -> RerunRead:
    return await points.rerun(session, ctx, principal=principal, evaluation_id=evaluation_id)


@router.post("/subsidy-claims", response_model=ClaimRead, status_code=201)
async def submit_claim(
    data: ClaimIn, session: SessionDep, principal: Claimant, ctx: ContextDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    status, body = await subsidies.submit_claim(
        session, ctx, principal=principal, data=data, idempotency_key=idempotency_key
    )
    return JSONResponse(body, status_code=status)


@router.get("/subsidy-claims", response_model=Page[ClaimRead])
async def list_claims(
    request: Request,
    principal: Reader,
    page: PageDep,
    learner_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> Response:
    # No ORM session, serialised once (the gateway's summary composes this list: issue 15, B3).
    answer = await subsidies.list_claims(reader_of(request.app), principal=principal, learner_id=learner_id, page=page)
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get("/subsidy-claims/{claim_id}", response_model=ClaimRead)
async def get_claim(claim_id: uuid.UUID, session: SessionDep, principal: Reader) -> ClaimRead:
    return await subsidies.get_claim(session, principal=principal, claim_id=claim_id)


@router.post("/subsidy-claims/{claim_id}/decision", response_model=ClaimRead)
async def decide_claim(claim_id: uuid.UUID, data: DecisionIn, session: SessionDep, principal: Admin) -> ClaimRead:
    return await subsidies.decide(session, principal=principal, claim_id=claim_id, data=data)


@router.post("/subsidy-claims/{claim_id}/payment", response_model=payments.PaymentRead, status_code=201)
async def pay_claim(
    claim_id: uuid.UUID, data: payments.PaymentIn, session: SessionDep, principal: Admin
) -> payments.PaymentRead:
    """Records that an approved claim was paid (once, the approved amount); publishes the ``paid`` event."""
    return await payments.pay(session, principal=principal, claim_id=claim_id, data=data)


@router.get("/subsidy-claims/{claim_id}/payment", response_model=payments.PaymentRead)
async def get_claim_payment(claim_id: uuid.UUID, session: SessionDep, principal: Reader) -> payments.PaymentRead:
    return await payments.get_payment(session, principal=principal, claim_id=claim_id)


@router.get("/universities/{org}/performance", response_model=PerformanceRead, responses=NO_RULESET)
async def university_performance(
    org: str, year: Year, session: SessionDep, principal: AdminOrUniversity, ctx: ContextDep
) -> PerformanceRead:
    return await performance.university(session, ctx.statistics, principal=principal, org=org, year=year)


@router.get("/performance/rankings", response_model=RankingRead, responses=NO_RULESET)
async def performance_rankings(year: Year, session: SessionDep, _: AdminOrPlatform, ctx: ContextDep) -> RankingRead:
    return await performance.rankings(session, ctx.statistics, year=year)


@router.post("/performance/allocations", response_model=AllocationRead, status_code=201)
async def allocate(data: AllocationIn, session: SessionDep, principal: Admin, ctx: ContextDep) -> AllocationRead:
    return await performance.allocate(session, ctx.statistics, principal=principal, data=data)


@router.get("/performance/allocations", response_model=list[AllocationRead])
async def list_allocations(
    session: SessionDep, _: AdminOrPlatform, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
) -> list[AllocationRead]:
    return await performance.list_allocations(session, year=year)


@router.post("/district-funding/calculations", response_model=DistrictFundingRead, status_code=201)
async def calculate_district_funding(
    data: DistrictFundingIn, session: SessionDep, principal: Admin
) -> DistrictFundingRead:
    return await district_funding.calculate(session, principal=principal, data=data)


@router.get("/district-funding/calculations", response_model=list[DistrictFundingRead])
async def list_district_funding(
    session: SessionDep,
    _: Admin,
    district: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> list[DistrictFundingRead]:
    return await district_funding.list_calculations(session, district=district, year=year)


@router.get("/district-funding/calculations/{calculation_id}", response_model=DistrictFundingRead)
async def get_district_funding(calculation_id: uuid.UUID, session: SessionDep, _: Admin) -> DistrictFundingRead:
    return await district_funding.get_calculation(session, calculation_id=calculation_id)
