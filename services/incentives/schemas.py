from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .events import ClaimEvent

Scheme = Literal["settlement_points", "residence_points", "skill_subsidy", "university_performance", "district_funding"]


class RuleSetCreate(BaseModel):
    scheme: Scheme
    title: str = Field(min_length=1, max_length=200)
    effective_from: date
    rules: dict[str, Any] = Field(description="The scheme's rule values (kept as data, never code)")
    source: str = Field(min_length=1, max_length=500, description="Where each value comes from, or 'default'")


class RuleSetRead(RuleSetCreate):
    id: uuid.UUID
    version: int
    status: Literal["draft", "published"]
    published_at: datetime | None


PointsScheme = Literal["settlement_points", "residence_points"]
LearnerId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class EvaluateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learner_id: LearnerId
    scheme: PointsScheme = "settlement_points"
    as_of: date | None = Field(default=None, description="default today (Asia/Shanghai)")
    declared: dict[str, Any] = Field(
        default_factory=dict,
        description="declared items (API.md vocabulary); skill certificates are never declared",
        json_schema_extra={"maxProperties": 50},
    )


class HypotheticalCertificate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    occupation_code: Annotated[str, StringConstraints(pattern=r"^[1-8]-\d{2}-\d{2}-\d{2}$")]
    level: int = Field(ge=1, le=5)
    work_type: Annotated[str, StringConstraints(max_length=100)] | None = None
    issued_on: date | None = Field(default=None, description="default: the evaluation date")


class SimulateIn(EvaluateIn):
    hypothetical_certificates: list[HypotheticalCertificate] = Field(default_factory=list, max_length=20)


class LineItemRead(BaseModel):
    item: str
    points: int
    rule: str
    evidence: dict[str, Any]


class EvaluationRead(BaseModel):
    id: uuid.UUID | None = Field(description="null for a simulation (nothing is stored)")
    learner_id: str
    scheme: str
    as_of: date
    total: int
    threshold: int
    passes: bool
    ruleset_id: uuid.UUID
    ruleset_version: int
    items: list[LineItemRead]
    declared: dict[str, Any]
    rerun_of: uuid.UUID | None = None
    created_at: datetime | None = None


class ItemChange(BaseModel):
    item: str
    before: int
    after: int
    change: Literal["added", "removed", "changed", "unchanged"]


class RerunRead(BaseModel):
    previous: EvaluationRead
    current: EvaluationRead
    total_change: int
    changes: list[ItemChange]


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learner_id: LearnerId
    certificate_number: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    graduation_year: int | None = Field(
        default=None,
        ge=1990,
        le=2100,
        description="optional, kept for older clients: the graduation year is taken from the certificate's record "
        "(assessment); a value that disagrees with it is 422. Only a certificate without one falls back to this "
        "(or, for a Y-kind certificate, to the year its issue date implies)",
    )


class ClaimRead(ClaimEvent):
    """A claim as the API answers it: the same fields as the claim events' data."""


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class Indicators(BaseModel):
    """DOMAIN.md §3, per university and year; a rule set weighs any of them (null: not computable, see ``missing``)."""

    graduates_certified_share: Decimal | None = Field(
        description="graduating-year students holding a certificate / the graduating-student count (statistics)"
    )
    certified_learners: Decimal = Field(description="distinct learners certified by the university's bodies")
    high_skill_share: Decimal = Field(description="share of the year's certificates at level 3 or above")
    catalogue_certificates: Decimal = Field(description="certificates in the catalogue edition in force on issue")
    industry_3_6_certificates: Decimal | None = Field(
        description="certificates in occupations the rule set lists as '3+6' industries"
    )
    employer_assessments: Decimal = Field(description="certificates issued as an employer body (Y)")
    social_assessments: Decimal = Field(description="certificates issued as a social body (S)")
    credit_conversions: Decimal = Field(description="credit-bank conversions posted in its programmes, not reversed")
    growth: Decimal = Field(description="certificates this year / last year - 1 (1 when last year had none)")


class MissingIndicator(BaseModel):
    indicator: str
    reason: str


class PerformanceRead(BaseModel):
    university_org: str
    year: int
    indicators: Indicators
    score: Decimal
    rank: int
    ruleset_id: uuid.UUID
    graduating_students: int | None = Field(
        default=None, description="the graduating-student count statistics holds for that year (null: none entered)"
    )
    graduating_certified: int = Field(default=0, description="of them, learners holding a certificate")
    missing: list[MissingIndicator] = Field(
        default_factory=list, description="indicators that could not be computed (they score 0), and why"
    )


class RankingRead(BaseModel):
    year: int
    ruleset_id: uuid.UUID
    items: list[PerformanceRead]


class AllocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    pool: Decimal = Field(gt=0, max_digits=14, decimal_places=2, description="yuan")


class AllocationLine(BaseModel):
    university_org: str
    score: Decimal
    rank: int
    amount: Decimal
    amount_fen: int


class AllocationRead(BaseModel):
    id: uuid.UUID
    year: int
    pool: Decimal
    ruleset_id: uuid.UUID
    lines: list[AllocationLine]
    created_at: datetime | None = None


class DistrictFundingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    district: str = Field(min_length=1, max_length=50, pattern=r"^[^*]", description="as filed with assessment bodies")
    year: int = Field(ge=2000, le=2100, description="calendar year of issue; the rule set in force on 31 December")


class DistrictFundingLine(BaseModel):
    university_org: str
    students_assessed: int = Field(description="distinct learners certified in the year (revoked excluded)")
    certificates: int
    catalogue_certificates: int
    high_level_certificates: int = Field(description="at level high_level_max or above (1 is the highest)")
    work_allowance: Decimal
    results_bonus: Decimal
    uncapped: Decimal
    cap: Decimal
    capped: bool
    amount: Decimal


class DistrictFundingRead(BaseModel):
    id: uuid.UUID
    district: str
    year: int
    ruleset_id: uuid.UUID
    ruleset_version: int
    ruleset_district: str = Field(description="the district the rule set names, or * for the default")
    total: Decimal
    lines: list[DistrictFundingLine]
    created_by: str
    created_at: datetime | None = None
