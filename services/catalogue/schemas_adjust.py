"""Request and response models of dynamic adjustment: signals, recommendations, proposals."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from .schemas import IndustryCode, Level, OccupationCode, ShortageLevel, Strict

PERIOD_PATTERN = r"^\d{4}-Q[1-4]$"
Period = Annotated[str, StringConstraints(pattern=PERIOD_PATTERN)]
MAX_SIGNALS = 10_000
Verdict = Literal["add", "keep", "remove", "review"]


class SignalIn(Strict):
    occupation_code: OccupationCode
    period: Period
    vacancies: int = Field(ge=0, le=10_000_000)
    job_seekers: int = Field(ge=0, le=10_000_000)
    median_wage: Decimal = Field(ge=0, le=10_000_000, max_digits=12, decimal_places=2, description="monthly, yuan")
    wage_growth: Decimal = Field(ge=-1, le=10, max_digits=7, decimal_places=4, description="year on year, 0.05 = +5%")
    fill_rate: Decimal = Field(ge=0, le=1, max_digits=5, decimal_places=4, description="share of vacancies filled")


class SignalsResult(BaseModel):
    received: int
    created: int
    updated: int
    unchanged: int


class RuleIn(Strict):
    """Weights and caps of the shortage score (docs/catalogue.md); a new row, never an edit."""

    source: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    valid_from: date
    weights: dict[
        Literal["vacancy_ratio", "fill_rate", "wage_growth", "certificate_supply"],
        Annotated[Decimal, Field(ge=0, le=100)],
    ]
    caps: dict[Literal["vacancy_ratio", "wage_growth", "certificates_per_vacancy"], Annotated[Decimal, Field(gt=0)]]
    thresholds: dict[Literal["add_at", "remove_below"], Annotated[Decimal, Field(ge=0, le=1)]]
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _complete(self) -> RuleIn:
        if len(self.weights) != 4 or sum(self.weights.values()) <= 0:
            raise ValueError("weights must name all four indicators and not all be zero")
        if len(self.caps) != 3 or len(self.thresholds) != 2:
            raise ValueError("caps and thresholds must name every key")
        if self.thresholds["remove_below"] > self.thresholds["add_at"]:
            raise ValueError("remove_below must not exceed add_at")
        return self


class RuleRead(BaseModel):
    id: int
    source: str
    valid_from: date
    weights: dict[str, Decimal]
    caps: dict[str, Decimal]
    thresholds: dict[str, Decimal]
    note: str


class Component(BaseModel):
    value: float | None
    normalised: float
    weight: float
    contribution: float


class RecommendationInputs(BaseModel):
    vacancies: int | None
    job_seekers: int | None
    median_wage: Decimal | None
    wage_growth: Decimal | None
    fill_rate: Decimal | None
    certificates_issued: int
    certificates_revoked: int


class Recommendation(BaseModel):
    occupation_code: str
    name: str | None
    in_catalogue: bool
    entry_id: uuid.UUID | None
    shortage_level: int | None
    score: float | None
    verdict: Verdict
    reasons: list[str]
    inputs: RecommendationInputs
    components: dict[str, Component]


class Recommendations(BaseModel):
    period: str
    as_of: date
    edition_id: uuid.UUID | None
    rule: RuleRead
    certificate_feed: dict[str, Any]
    items: list[Recommendation]


class ProposalCreate(Strict):
    action: Literal["add", "remove", "change"]
    occupation_code: OccupationCode
    work_type: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    min_level: Level | None = None
    industries: list[IndustryCode] | None = Field(None, min_length=1, max_length=20)
    shortage_level: ShortageLevel | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    review_by: date | None = None
    rationale: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    period: Period | None = None

    def changes(self) -> dict[str, Any]:
        fields = ("min_level", "industries", "shortage_level", "reason", "review_by")
        return {k: v for k, v in self.model_dump(mode="json", include=set(fields)).items() if v is not None}

    @model_validator(mode="after")
    def _fits_action(self) -> ProposalCreate:
        changes = self.changes()
        if self.action == "add":
            missing = [f for f in ("min_level", "industries", "shortage_level", "reason") if f not in changes]
            if missing:
                raise ValueError(f"an add proposal needs {', '.join(missing)}")
        elif self.action == "change" and not changes:
            raise ValueError("a change proposal names at least one field to change")
        elif self.action == "remove" and changes:
            raise ValueError("a remove proposal carries no entry fields")
        return self


class ProposalRead(BaseModel):
    id: uuid.UUID
    action: str
    occupation_code: str
    work_type: str | None
    changes: dict[str, Any]
    rationale: str
    period: str | None
    status: Literal["pending", "approved", "rejected"]
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    applied_to: uuid.UUID | None


class DecisionIn(Strict):
    decision: Literal["approve", "reject"]
    edition_id: uuid.UUID | None = Field(None, description="the draft an approved proposal is applied to")
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _draft_for_approval(self) -> DecisionIn:
        if self.decision == "approve" and self.edition_id is None:
            raise ValueError("an approval names the draft edition_id it applies to")
        return self


class SyncResult(BaseModel):
    pages: int
    events: int
    applied: int
    skipped: int
    cursor: str | None
