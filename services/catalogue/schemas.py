"""Request and response models of the classification, industries, editions and lookups."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

OCCUPATION_CODE_PATTERN = r"^[1-8]-\d{2}-\d{2}-\d{2}$"
OccupationCode = Annotated[str, StringConstraints(pattern=OCCUPATION_CODE_PATTERN)]
Level = Annotated[int, Field(ge=1, le=5, description="5 = 五级/初级工 … 1 = 一级/高级技师")]
ShortageLevel = Annotated[int, Field(ge=1, le=3, description="1 = most acute")]
IndustryCode = Annotated[str, StringConstraints(min_length=1, max_length=40)]
EditionStatus = Literal["draft", "published", "superseded"]
MAX_LOOKUPS = 10_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OccupationRead(BaseModel):
    code: str
    name: str
    major: str
    middle: str
    minor: str
    classification: str
    introduced_on: date | None = None


class AliasRead(BaseModel):
    old_classification: str
    old_code: str


class OccupationDetail(OccupationRead):
    major_name: str | None = None
    middle_name: str | None = None
    minor_name: str | None = None
    work_types: list[str] = []
    aliases: list[AliasRead] = []
    resolved_from: str | None = Field(None, description="the old code asked for, when it was an alias")


class ImportRow(Strict):
    """One row of ``POST /occupations/import``; a CSV lists work types and former codes with ``;``."""

    code: OccupationCode
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    classification: Annotated[str, StringConstraints(min_length=1, max_length=10)] | None = None
    work_types: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field([], max_length=200)
    former_codes: list[OccupationCode] = Field([], max_length=20, description="codes of the previous classification")
    former_classification: Annotated[str, StringConstraints(min_length=1, max_length=10)] = "2015"
    introduced_on: date | None = None
    major_name: str | None = Field(None, max_length=100)
    middle_name: str | None = Field(None, max_length=100)
    minor_name: str | None = Field(None, max_length=100)


class ImportResult(BaseModel):
    received: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[dict[str, object]]


class IndustryIn(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    group: Literal["3", "6", "livelihood"]


class IndustryRead(BaseModel):
    code: str
    name: str
    group: str


class IndustryTaxonomyCreate(Strict):
    version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,20}$")]
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    effective_from: date
    industries: list[IndustryIn] = Field(min_length=1, max_length=200)


class IndustryTaxonomyRead(BaseModel):
    version: str
    title: str
    effective_from: date
    industries: list[IndustryRead]
    versions: list[str] = Field([], description="every version kept, newest first")


class EditionCreate(Strict):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    based_on: uuid.UUID | None = None


class EditionRead(BaseModel):
    id: uuid.UUID
    title: str
    status: EditionStatus
    effective_from: date | None
    effective_to: date | None
    published_at: datetime | None
    entry_count: int
    based_on: uuid.UUID | None
    classification: str
    industry_version: str
    created_by: str
    created_at: datetime
    published_by: str | None


class PublishRequest(Strict):
    effective_from: date


class EntryCreate(Strict):
    occupation_code: OccupationCode
    work_type: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    min_level: Level
    industries: list[IndustryCode] = Field(min_length=1, max_length=20)
    shortage_level: ShortageLevel
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    review_by: date | None = None


class EntryUpdate(Strict):
    work_type: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    min_level: Level | None = None
    industries: list[IndustryCode] | None = Field(None, min_length=1, max_length=20)
    shortage_level: ShortageLevel | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] | None = None
    review_by: date | None = None


class EntryRead(BaseModel):
    id: uuid.UUID
    edition_id: uuid.UUID
    occupation_code: str
    occupation_name: str | None
    work_type: str | None
    min_level: int
    industries: list[str]
    shortage_level: int
    reason: str
    review_by: date | None


class EntryChange(BaseModel):
    before: EntryRead
    after: EntryRead
    fields: list[str]


class DiffRead(BaseModel):
    edition_id: uuid.UUID
    against: uuid.UUID
    added: list[EntryRead]
    removed: list[EntryRead]
    changed: list[EntryChange]


class LookupRead(BaseModel):
    occupation_code: str
    level: int
    as_of: date
    exists: bool
    name: str | None
    resolved_code: str | None
    in_catalogue: bool
    edition_id: uuid.UUID | None
    entry: EntryRead | None


class LookupQuery(Strict):
    occupation_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    level: Level
    as_of: date
    work_type: Annotated[str, StringConstraints(max_length=100)] | None = None


class LookupBatch(Strict):
    queries: list[LookupQuery] = Field(max_length=MAX_LOOKUPS)


class LookupResult(BaseModel):
    occupation_code: str
    level: int
    as_of: date
    work_type: str | None = None
    exists: bool
    name: str | None
    resolved_code: str | None
    in_catalogue: bool
    edition_id: uuid.UUID | None


class LookupResults(BaseModel):
    results: list[LookupResult]
