"""Incentive tables (schema ``incentives``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.kit.audit import audit_table
from services.kit.db import service_metadata
from services.kit.feed import outbox_tables
from services.kit.idempotency import idempotency_table

SCHEMA = "incentives"
metadata = service_metadata(SCHEMA)
events_table, events_horizon_table = outbox_tables(metadata)
idempotency_keys_table = idempotency_table(metadata)
audit_log_table = audit_table(metadata)


class IncentivesTable(SQLModel, registry=registry(metadata=metadata)):
    pass


class RuleSet(IncentivesTable, table=True):
    """A versioned rule set of one scheme; published ones are immutable, a change is a new version."""

    __tablename__ = "rulesets"
    __table_args__ = (UniqueConstraint("scheme", "version", name="uq_rulesets_scheme_version"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    scheme: str = Field(max_length=40, index=True)
    version: int
    title: str = Field(max_length=200)
    status: str = Field(default="draft", max_length=12)
    effective_from: date
    rules: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    source: str = Field(max_length=500)
    created_at: datetime | None = Field(
        default=None, sa_type=DateTime(timezone=True), sa_column_kwargs={"server_default": func.now()}
    )
    published_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


def _created_at() -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True), sa_column_kwargs={"server_default": func.now()})


class Evaluation(IncentivesTable, table=True):
    """One stored points evaluation: what was declared, the rule set, and the line items that fired."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_learner_created", "learner_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    learner_id: str = Field(max_length=64)
    scheme: str = Field(max_length=40)
    ruleset_id: uuid.UUID
    ruleset_version: int
    as_of: date
    declared: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    total: int
    threshold: int
    passes: bool
    items: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    requested_by: str = Field(max_length=200)
    org: str | None = Field(default=None, max_length=100, description="the university that asked, if one did")
    rerun_of: uuid.UUID | None = None
    created_at: datetime | None = _created_at()


class SubsidyClaim(IncentivesTable, table=True):
    """A skill-subsidy claim: eligibility reasons, the exact amount, the admin's one decision."""

    __tablename__ = "subsidy_claims"
    __table_args__ = (
        Index("ix_subsidy_claims_learner", "learner_id", "occupation_code", "level"),
        Index("ix_subsidy_claims_certificate", "certificate_number"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    learner_id: str = Field(max_length=64)
    certificate_number: str = Field(max_length=40)
    occupation_code: str = Field(max_length=20)
    level: int
    issued_on: date
    claimed_on: date
    ruleset_id: uuid.UUID
    status: str = Field(max_length=12)
    amount: Decimal | None = Field(default=None, sa_type=Numeric(12, 2))
    in_catalogue: bool = False
    edition_id: str | None = Field(default=None, max_length=64)
    reasons: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    recovery_due: bool = False
    org: str | None = Field(default=None, max_length=100)
    requested_by: str = Field(max_length=200)
    decided_by: str | None = Field(default=None, max_length=200)
    decision_reason: str | None = Field(default=None, max_length=500)
    decided_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime | None = _created_at()


class CertificateFact(IncentivesTable, table=True):
    """Assessment's certificates as read from its feed: the base of university performance."""

    __tablename__ = "certificate_facts"

    number: str = Field(primary_key=True, max_length=40)
    learner_id: str = Field(max_length=64, index=True)
    university_org: str | None = Field(default=None, max_length=100, index=True)
    body_kind: str = Field(max_length=1)
    occupation_code: str = Field(max_length=20)
    level: int
    issued_on: date
    in_catalogue: bool
    status: str = Field(max_length=12)
    # From events that carry them (inc_0005): the candidate's graduation year and school on the record.
    graduation_year: int | None = None
    school_org: str | None = Field(default=None, max_length=100, index=True)


class CreditConversion(IncentivesTable, table=True):
    """The credit bank's conversions as read from its feed (``credit_bank.conversion.posted|reversed``)."""

    __tablename__ = "credit_conversions"
    __table_args__ = (Index("ix_credit_conversions_university_org_posted_on", "university_org", "posted_on"),)

    conversion_id: str = Field(primary_key=True, max_length=64)
    learner_id: str = Field(max_length=64)
    university_org: str | None = Field(default=None, max_length=100)
    occupation_code: str | None = Field(default=None, max_length=20)
    level: int | None = None
    credits: Decimal = Field(sa_type=Numeric(8, 2))
    posted_on: date
    reversed_on: date | None = None
    event_id: int = Field(sa_type=BigInteger)


class Allocation(IncentivesTable, table=True):
    """A performance budget pool split among universities in fen; the lines add up to the pool."""

    __tablename__ = "allocations"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    year: int = Field(index=True)
    pool: Decimal = Field(sa_type=Numeric(14, 2))
    ruleset_id: uuid.UUID
    lines: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime | None = _created_at()


class AssessmentBody(IncentivesTable, table=True):
    """Assessment bodies as filed (``assessment.body.filed``): where a university's district is known."""

    __tablename__ = "assessment_bodies"

    body_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=10)
    district: str = Field(max_length=50)
    university_org: str | None = Field(default=None, max_length=100, index=True)
    event_id: int = Field(sa_type=BigInteger)


class DistrictFundingCalculation(IncentivesTable, table=True):
    """One district's funding of its universities for a year (policy 一.四); append-only, a re-run is a new row."""

    __tablename__ = "district_funding_calculations"
    __table_args__ = (Index("ix_district_funding_calculations_district_year", "district", "year"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    district: str = Field(max_length=50)
    year: int
    ruleset_id: uuid.UUID
    ruleset_version: int
    total: Decimal = Field(sa_type=Numeric(14, 2))
    lines: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime | None = _created_at()


class FeedCursor(IncentivesTable, table=True):
    """Where this service is in another service's feed (durable across restarts)."""

    __tablename__ = "feed_cursors"

    feed: str = Field(primary_key=True, max_length=40)
    cursor: str | None = Field(default=None, max_length=64)
    updated_at: datetime | None = _created_at()


applied_feed_events_table = Table(
    "applied_feed_events",
    metadata,
    Column("feed", String(40), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("feed", "event_id"),
)
