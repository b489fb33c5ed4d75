"""Incentive tables (schema ``incentives``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, DateTime, UniqueConstraint, func
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
