"""Credit bank tables (schema ``credit_bank``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Numeric, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.kit.audit import audit_table
from services.kit.db import service_metadata
from services.kit.feed import outbox_tables
from services.kit.idempotency import idempotency_table

SCHEMA = "credit_bank"
metadata = service_metadata(SCHEMA)
events_table, events_horizon_table = outbox_tables(metadata)
idempotency_keys_table = idempotency_table(metadata)
audit_log_table = audit_table(metadata)


def _now_column() -> Any:
    return Column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _credits() -> Any:
    return Numeric(6, 1)


class CreditBankTable(SQLModel, registry=registry(metadata=metadata)):
    pass


class Programme(CreditBankTable, table=True):
    """A university programme whose courses certificates may stand in for (课证融通)."""

    __tablename__ = "programmes"
    __table_args__ = (UniqueConstraint("university_org", "code", name="uq_programmes_university_org_code"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    university_org: str = Field(max_length=100, index=True)
    code: str = Field(max_length=50)
    name: str = Field(max_length=200)
    graduation_credits: Decimal = Field(sa_type=Numeric(6, 1))
    max_converted_ratio: Decimal = Field(sa_type=Numeric(4, 3))


class ConversionRule(CreditBankTable, table=True):
    """Occupation + minimum level → credits and the courses they replace, dated (a programme's or general)."""

    __tablename__ = "conversion_rules"
    __table_args__ = (Index("ix_conversion_rules_occupation_code", "occupation_code", "programme_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    programme_id: uuid.UUID | None = Field(default=None, index=True)
    # The programme's university; None for a general rule (the bureau's).
    university_org: str | None = Field(default=None, max_length=100)
    occupation_code: str = Field(max_length=20)
    min_level: int
    credits: Decimal = Field(sa_type=_credits())
    course_codes: list[str] = Field(sa_column=Column(JSONB, nullable=False))
    valid_from: date
    valid_to: date | None = None
    source: str | None = Field(default=None, max_length=200)
    created_at: datetime | None = Field(default=None, sa_column=_now_column())


class Account(CreditBankTable, table=True):
    """A learner's account, opened by the first deposit."""

    __tablename__ = "accounts"

    learner_id: str = Field(primary_key=True, max_length=64)
    opened_at: datetime | None = Field(default=None, sa_column=_now_column())


class AccountUniversity(CreditBankTable, table=True):
    """Universities that hold a learner as their student: they deposited for them or converted into
    one of their programmes. This is what lets a university read the account."""

    __tablename__ = "account_universities"

    learner_id: str = Field(primary_key=True, max_length=64)
    university_org: str = Field(primary_key=True, max_length=100)


class Outcome(CreditBankTable, table=True):
    """A deposited learning outcome: a certificate (checked with assessment), a course or an award."""

    __tablename__ = "outcomes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    learner_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=20)
    certificate_number: str | None = Field(default=None, max_length=40, unique=True)
    occupation_code: str | None = Field(default=None, max_length=20)
    level: int | None = None
    issued_on: date | None = None
    title: str | None = Field(default=None, max_length=200)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    status: str = Field(default="valid", max_length=20)
    status_reason: str | None = Field(default=None, max_length=500)
    deposited_by: str = Field(max_length=200)
    deposited_at: datetime | None = Field(default=None, sa_column=_now_column())


class Conversion(CreditBankTable, table=True):
    """An outcome converted into a programme's credits under one rule; reversed, never deleted."""

    __tablename__ = "conversions"
    # One conversion per outcome per programme: the constraint decides a race, not a read.
    __table_args__ = (
        UniqueConstraint("outcome_id", "programme_id", name="uq_conversions_outcome_id"),
        Index("ix_conversions_learner_id", "learner_id", "programme_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    learner_id: str = Field(max_length=64)
    outcome_id: uuid.UUID
    programme_id: uuid.UUID
    university_org: str = Field(max_length=100)
    rule_id: uuid.UUID
    occupation_code: str = Field(max_length=20)
    level: int
    credits: Decimal = Field(sa_type=_credits())
    course_codes: list[str] = Field(sa_column=Column(JSONB, nullable=False))
    status: str = Field(default="posted", max_length=20)
    posted_at: datetime | None = Field(default=None, sa_column=_now_column())
    reversed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    reverse_reason: str | None = Field(default=None, max_length=500)


class ConvertedCourse(CreditBankTable, table=True):
    """A course a posted conversion stands in for: each course is replaced by one certificate only."""

    __tablename__ = "converted_courses"

    learner_id: str = Field(primary_key=True, max_length=64)
    programme_id: uuid.UUID = Field(primary_key=True)
    course_code: str = Field(primary_key=True, max_length=50)
    conversion_id: uuid.UUID = Field(index=True)


class LedgerEntry(CreditBankTable, table=True):
    """The append-only credit ledger: the role has no UPDATE/DELETE and a trigger refuses them."""

    __tablename__ = "ledger_entries"
    # A conversion is posted once and reversed at most once, whatever the feed delivers.
    __table_args__ = (
        UniqueConstraint("conversion_id", "kind", name="uq_ledger_entries_conversion_id"),
        Index("ix_ledger_entries_learner_id", "learner_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True))
    learner_id: str = Field(max_length=64)
    kind: str = Field(max_length=10)
    credits: Decimal = Field(sa_type=_credits())
    outcome_id: uuid.UUID
    conversion_id: uuid.UUID | None = None
    programme_id: uuid.UUID | None = None
    rule_id: uuid.UUID | None = None
    reason: str = Field(max_length=500)
    at: datetime | None = Field(default=None, sa_column=_now_column())


class FeedCursor(CreditBankTable, table=True):
    __tablename__ = "feed_cursors"

    feed: str = Field(primary_key=True, max_length=40)
    cursor: str | None = Field(default=None, max_length=64)
    updated_at: datetime | None = Field(default=None, sa_column=_now_column())


class AppliedFeedEvent(CreditBankTable, table=True):
    """Events already applied, so a page read twice never reverses twice."""

    __tablename__ = "applied_feed_events"

    feed: str = Field(primary_key=True, max_length=40)
    event_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
