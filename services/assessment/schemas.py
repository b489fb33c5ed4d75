"""Request and answer models (validation lives here; table models skip it)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError
from stdnum.cn import uscc as uscc_std

from services.kit.pii import normalise_id_number

from .id_numbers import is_valid_id_number

OccupationCode = Annotated[str, Field(pattern=r"^\d-\d{2}-\d{2}-\d{2}$", examples=["6-25-02-05"])]
Level = Annotated[int, Field(ge=1, le=5, description="5 = 五级/初级工 … 1 = 一级/高级技师")]
Score = Annotated[Decimal, Field(ge=0, le=100, decimal_places=1)]
Org = Annotated[str, Field(min_length=1, max_length=100)]


class BodyCreate(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    uscc: str = Field(description="18-character unified social credit code (GB 32100)")
    kind: Literal["employer", "social"]
    university_org: str | None = Field(default=None, max_length=100)
    district: str = Field(min_length=1, max_length=50)

    @field_validator("uscc")
    @classmethod
    def _check_uscc(cls, value: str) -> str:
        value = value.strip().upper()
        if not uscc_std.is_valid(value):
            raise ValueError("not a valid unified social credit code (length, characters or check character)")
        return value

    @model_validator(mode="after")
    def _employer_needs_university(self) -> BodyCreate:
        if self.kind == "employer" and not self.university_org:
            raise ValueError("an employer body must name its university_org")
        return self


class ScopeItem(BaseModel):
    occupation_code: OccupationCode
    work_type: str | None = Field(default=None, max_length=100)
    levels: list[Level] = Field(min_length=1, max_length=5)


class FilingCreate(BaseModel):
    filing_no: str = Field(min_length=3, max_length=50)
    scope: list[ScopeItem] = Field(min_length=1, max_length=200)
    valid_from: date
    valid_to: date

    @model_validator(mode="after")
    def _window(self) -> FilingCreate:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class FilingRead(BaseModel):
    id: uuid.UUID
    body_id: uuid.UUID
    filing_no: str
    scope: list[ScopeItem]
    valid_from: date
    valid_to: date
    status: Literal["active", "suspended", "revoked"]
    status_reason: str | None = None


class BodyRead(BaseModel):
    id: uuid.UUID
    sequence: int = Field(description="the 6-digit body sequence used in certificate numbers")
    name: str
    uscc: str
    kind: Literal["employer", "social"]
    university_org: str | None
    district: str
    filings: list[FilingRead] = []


class ReasonIn(BaseModel):
    reason: str = Field(min_length=2, max_length=500)


# A batch's records (up to 10,000 per upload) are slotted pydantic dataclasses, not BaseModels:
# the same validation, errors and order of errors, but a BaseModel instance also carries a
# __dict__ and a __pydantic_fields_set__ set, 3.3 KB per record with its candidate against
# 0.5 KB; 5,000 of them were 16 MB of the assessment process's peak (issue 15, B4). Every field
# has ``= Field(...)`` so that kw_only keeps the declared order (errors are reported in it); the
# one error that differs in wording, a record or candidate that is not an object, is reworded
# to the BaseModel's in batch_input.check_shapes.
@dataclass(slots=True, kw_only=True)
class CandidateIn:
    id_number: str = Field(description="resident ID number (GB 11643); stored encrypted")
    name: str = Field(min_length=1, max_length=100)
    student_no: str = Field(min_length=1, max_length=50)
    school_org: Org = Field()
    graduation_year: int = Field(ge=2000, le=2100)
    major: str = Field(min_length=1, max_length=100)

    @field_validator("id_number")
    @classmethod
    def _check_id_number(cls, value: str) -> str:
        value = normalise_id_number(value)
        if not is_valid_id_number(value):
            # The number itself is never echoed: errors are logged and returned.
            raise PydanticCustomError(
                "invalid_id_number", "not a valid resident ID number (GB 11643 check digit or birth date)"
            )
        return value

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        return value.strip()


@dataclass(slots=True, kw_only=True)
class RecordIn:
    external_id: str = Field(min_length=1, max_length=100)
    candidate: CandidateIn = Field()
    occupation_code: OccupationCode = Field()
    work_type: str | None = Field(default=None, max_length=100)
    level: Level = Field()
    exam_date: date = Field()
    theory_score: Score = Field()
    practical_score: Score = Field()
    review_score: Score | None = None


class RowError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class RowResult(BaseModel):
    index: int
    status: Literal["accepted", "rejected", "duplicate"]
    record_id: uuid.UUID | None = None
    certificate_number: str | None = None
    errors: list[RowError] | None = None


class BatchRead(BaseModel):
    batch_id: uuid.UUID
    body_id: uuid.UUID
    mode: Literal["all_or_nothing", "partial"]
    accepted: int
    rejected: int
    duplicates: int
    rows: list[RowResult]


class CandidateRead(BaseModel):
    id_number: str = Field(description="unmasked only for the owning university and admin")
    name: str
    student_no: str
    school_org: str
    graduation_year: int
    major: str


class RecordRead(BaseModel):
    id: uuid.UUID
    batch_id: uuid.UUID
    body_id: uuid.UUID
    external_id: str
    learner_id: str
    candidate: CandidateRead
    occupation_code: str
    work_type: str | None
    level: int
    exam_date: date
    theory_score: Decimal
    practical_score: Decimal
    review_score: Decimal | None
    passed: bool
    certificate_number: str | None


class CertificateRead(BaseModel):
    number: str
    learner_id: str
    holder_name: str = Field(description="masked unless the reader is the holder, owning university or admin")
    occupation_code: str
    occupation_name: str | None
    work_type: str | None
    level: int
    body_id: uuid.UUID
    issued_on: date
    status: Literal["valid", "suspended", "revoked"]
    status_reason: str | None = None
    in_catalogue_on_issue: bool
    graduation_year: int | None = Field(
        default=None, description="the candidate's graduation year on the certificate's record (null if unknown)"
    )


class CertificateCheckIn(BaseModel):
    """Certificate numbers a service checks in one call (the credit bank's bulk deposits)."""

    numbers: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(min_length=1, max_length=1000)


class CertificateCheck(BaseModel):
    """One number's facts: found or not, and when found its holder (learner id, never the name) and status."""

    number: str
    found: bool
    learner_id: str | None = None
    occupation_code: str | None = None
    level: int | None = None
    issued_on: date | None = None
    status: Literal["valid", "suspended", "revoked"] | None = None
    status_reason: str | None = None


class CertificateCheckAnswer(BaseModel):
    certificates: list[CertificateCheck] = Field(description="one per number asked, in the order asked")


class VerifyAnswer(BaseModel):
    found: bool
    status: Literal["valid", "suspended", "revoked"] | None = None
    occupation_name: str | None = None
    level: int | None = None
    issued_on: date | None = None
    body_name: str | None = None
    holder_name_masked: str | None = None
