from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

OccupationCode = Field(pattern=r"^[1-8]-\d{2}-\d{2}-\d{2}$")
LearnerId = Field(min_length=1, max_length=64)


class ProgrammeCreate(BaseModel):
    university_org: str = Field(min_length=1, max_length=100)
    code: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    graduation_credits: Decimal = Field(gt=0, le=1000, max_digits=6, decimal_places=1)
    # RULE DEFAULT (DOMAIN.md §5): converted credits at most 50% of graduation credits.
    max_converted_ratio: Decimal = Field(default=Decimal("0.5"), gt=0, le=1, max_digits=4, decimal_places=3)


class ProgrammeRead(ProgrammeCreate):
    id: uuid.UUID


class RuleCreate(BaseModel):
    programme_id: uuid.UUID | None = Field(default=None, description="omitted: a general rule (admin only)")
    occupation_code: str = OccupationCode
    min_level: int = Field(ge=1, le=5, description="1 is the highest; min_level 3 admits levels 3, 2 and 1")
    credits: Decimal = Field(gt=0, max_digits=6, decimal_places=1)
    course_codes: list[str] = Field(default_factory=list, max_length=50)
    valid_from: date
    valid_to: date | None = None
    source: str | None = Field(default=None, max_length=200)


class RuleRead(RuleCreate):
    id: uuid.UUID
    university_org: str | None


class OutcomeCreate(BaseModel):
    learner_id: str = LearnerId
    kind: Literal["certificate", "course", "award"]
    certificate_number: str | None = Field(default=None, min_length=1, max_length=40)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    evidence: dict[str, Any] = Field(default_factory=dict, description="for course and award outcomes")


class OutcomeRead(BaseModel):
    outcome_id: uuid.UUID
    learner_id: str
    kind: str
    status: str
    status_reason: str | None = None
    certificate_number: str | None = None
    occupation_code: str | None = None
    level: int | None = None
    issued_on: date | None = None
    title: str | None = None
    evidence: dict[str, Any]
    deposited_at: datetime | None = None


class ConversionCreate(BaseModel):
    learner_id: str = LearnerId
    outcome_id: uuid.UUID
    programme_id: uuid.UUID


class ConversionRead(BaseModel):
    conversion_id: uuid.UUID
    learner_id: str
    outcome_id: uuid.UUID
    programme_id: uuid.UUID
    rule_id: uuid.UUID
    credits: Decimal
    course_codes: list[str]
    ledger_entry_id: int
    replaced_conversion_ids: list[uuid.UUID] = Field(
        default_factory=list, description="lower-level conversions of the same occupation this one replaced"
    )


class AccountRead(BaseModel):
    learner_id: str
    balance: Decimal
    outcomes: int
    converted: int


class LedgerEntryRead(BaseModel):
    id: int
    kind: Literal["deposit", "convert", "reverse"]
    credits: Decimal
    outcome_id: uuid.UUID
    conversion_id: uuid.UUID | None = None
    programme_id: uuid.UUID | None = None
    rule_id: uuid.UUID | None = None
    at: datetime
    reason: str | None = None


class TranscriptConversion(BaseModel):
    conversion_id: uuid.UUID
    outcome_id: uuid.UUID
    certificate_number: str | None
    occupation_code: str
    level: int
    credits: Decimal
    course_codes: list[str]
    status: Literal["posted", "reversed"]
    suspended: bool = Field(description="the certificate is suspended: no new conversions until reinstated")


class TranscriptProgramme(BaseModel):
    programme_id: uuid.UUID
    code: str
    name: str
    university_org: str
    graduation_credits: Decimal
    cap: Decimal
    converted_credits: Decimal
    remaining_cap: Decimal
    courses: list[str]
    flagged: bool = Field(description="a certificate behind a posted conversion is suspended")
    conversions: list[TranscriptConversion]


class Transcript(BaseModel):
    """The account's figures and, per programme, what its conversions count for."""

    learner_id: str
    balance: Decimal
    outcomes: int = 0
    converted: int = 0
    programmes: list[TranscriptProgramme]


# Bulk routes for university information systems: one request per batch (like assessment's batches).
MAX_BATCH_ITEMS = 1000


class OutcomeBatch(BaseModel):
    items: list[OutcomeCreate] = Field(
        min_length=1, max_length=MAX_BATCH_ITEMS, description=f"up to {MAX_BATCH_ITEMS} deposits, as POST /outcomes"
    )


class ConversionBatch(BaseModel):
    items: list[ConversionCreate] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description=f"up to {MAX_BATCH_ITEMS} conversions, as POST /conversions, applied in order",
    )


class ItemProblem(BaseModel):
    """The RFC 9457 problem the single route would have answered for this item."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class OutcomeBatchRow(BaseModel):
    index: int
    status: Literal["deposited", "existing", "rejected"] = Field(
        description="deposited: a new outcome; existing: the certificate was deposited before (the same outcome)"
    )
    outcome: OutcomeRead | None = None
    problem: ItemProblem | None = None


class OutcomeBatchRead(BaseModel):
    deposited: int
    existing: int
    rejected: int
    items: list[OutcomeBatchRow]


class ConversionBatchRow(BaseModel):
    index: int
    status: Literal["converted", "rejected"]
    conversion: ConversionRead | None = None
    problem: ItemProblem | None = None


class ConversionBatchRead(BaseModel):
    converted: int
    rejected: int
    items: list[ConversionBatchRow]
