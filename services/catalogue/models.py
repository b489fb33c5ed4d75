"""Catalogue tables (schema ``catalogue``).

The classification is keyed on (classification edition, code): the same code string can mean
different occupations in different classification editions, and ``occupation_aliases`` maps an
old code to its successor. Catalogue editions are append-only: a published edition never changes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Column, DateTime, ForeignKey, Index, Numeric, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.kit.audit import audit_table
from services.kit.db import service_metadata
from services.kit.feed import outbox_tables
from services.kit.idempotency import idempotency_table

SCHEMA = "catalogue"
metadata = service_metadata(SCHEMA)
events_table, events_horizon_table = outbox_tables(metadata)
idempotency_keys_table = idempotency_table(metadata)
audit_log_table = audit_table(metadata)


def _now_column() -> Any:
    return Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class CatalogueTable(SQLModel, registry=registry(metadata=metadata)):
    pass


class Occupation(CatalogueTable, table=True):
    __tablename__ = "occupations"
    __table_args__ = (
        # Substring search on names stays an index scan on the full 1,639-occupation list.
        Index(
            "ix_occupations_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "public.gin_trgm_ops"}
        ),
        Index("ix_occupations_code_prefix", "code", postgresql_ops={"code": "varchar_pattern_ops"}),
    )

    classification: str = Field(default="2022", primary_key=True, max_length=10)
    code: str = Field(primary_key=True, max_length=11)
    name: str = Field(max_length=100)
    major: str = Field(max_length=1)
    middle: str = Field(max_length=4)
    minor: str = Field(max_length=7)
    # An occupation announced after its classification edition (e.g. 2024-07-31) exists only from then.
    introduced_on: date | None = None


class OccupationGroup(CatalogueTable, table=True):
    """Major (``2``), middle (``2-02``) and minor (``2-02-38``) groups, with their names."""

    __tablename__ = "occupation_groups"

    classification: str = Field(default="2022", primary_key=True, max_length=10)
    code: str = Field(primary_key=True, max_length=7)
    name: str = Field(max_length=100)


class WorkType(CatalogueTable, table=True):
    __tablename__ = "work_types"

    classification: str = Field(default="2022", primary_key=True, max_length=10)
    occupation_code: str = Field(primary_key=True, max_length=11)
    name: str = Field(primary_key=True, max_length=100)


class OccupationAlias(CatalogueTable, table=True):
    """An old code (of an older classification) → the code that replaced it."""

    __tablename__ = "occupation_aliases"
    __table_args__ = (Index("ix_occupation_aliases_old_code", "old_code"),)

    old_classification: str = Field(primary_key=True, max_length=10)
    old_code: str = Field(primary_key=True, max_length=11)
    classification: str = Field(max_length=10)
    code: str = Field(max_length=11)


class IndustryTaxonomy(CatalogueTable, table=True):
    __tablename__ = "industry_taxonomies"

    version: str = Field(primary_key=True, max_length=20)
    title: str = Field(max_length=200)
    effective_from: date
    created_at: datetime | None = Field(default=None, sa_column=_now_column())


class Industry(CatalogueTable, table=True):
    """An industry tag: one of the "3", the "6", or livelihood services."""

    __tablename__ = "industries"

    version: str = Field(primary_key=True, max_length=20)
    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100)
    group: str = Field(max_length=20)  # "3" | "6" | "livelihood"
    position: int = 0


class Edition(CatalogueTable, table=True):
    __tablename__ = "editions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str = Field(max_length=200)
    status: str = Field(default="draft", max_length=12)  # draft | published | superseded
    classification: str = Field(default="2022", max_length=10)
    industry_version: str = Field(max_length=20)
    based_on: uuid.UUID | None = None
    effective_from: date | None = None
    effective_to: date | None = None
    published_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    published_by: str | None = Field(default=None, max_length=200)
    created_by: str = Field(max_length=200)
    created_at: datetime | None = Field(default=None, sa_column=_now_column())


class EditionEntry(CatalogueTable, table=True):
    __tablename__ = "edition_entries"
    __table_args__ = (
        Index("uq_edition_entries_key", "edition_id", "occupation_code", text("coalesce(work_type, '')"), unique=True),
        Index("ix_edition_entries_code", "occupation_code", "edition_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    edition_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.editions.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    occupation_code: str = Field(max_length=11)
    work_type: str | None = Field(default=None, max_length=100)
    # Level 5 is the lowest (初级工), 1 the highest (高级技师): level L qualifies when L <= min_level.
    min_level: int
    industries: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String(40)), nullable=False))
    shortage_level: int
    reason: str = Field(max_length=2000)
    review_by: date | None = None


class Signal(CatalogueTable, table=True):
    """One labour-market observation for one occupation and period (``2026-Q3``)."""

    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_period", "period"),)

    occupation_code: str = Field(primary_key=True, max_length=11)
    period: str = Field(primary_key=True, max_length=7)
    vacancies: int
    job_seekers: int
    median_wage: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    wage_growth: Decimal = Field(sa_column=Column(Numeric(7, 4), nullable=False))
    fill_rate: Decimal = Field(sa_column=Column(Numeric(5, 4), nullable=False))
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime | None = Field(default=None, sa_column=_now_column())


class CertificateSupply(CatalogueTable, table=True):
    """Certificates issued (and revoked) per occupation, level and issue period, from assessment's feed."""

    __tablename__ = "certificate_supply"

    occupation_code: str = Field(primary_key=True, max_length=11)
    period: str = Field(primary_key=True, max_length=7)
    level: int = Field(primary_key=True)
    issued: int = 0
    revoked: int = 0


class FeedCursor(CatalogueTable, table=True):
    __tablename__ = "feed_cursors"

    feed: str = Field(primary_key=True, max_length=40)
    cursor: str | None = Field(default=None, max_length=64)
    updated_at: datetime | None = Field(default=None, sa_column=_now_column())


class AppliedFeedEvent(CatalogueTable, table=True):
    """Events already applied, so a replayed page never counts twice."""

    __tablename__ = "applied_feed_events"

    feed: str = Field(primary_key=True, max_length=40)
    event_id: int = Field(sa_column=Column(BigInteger, primary_key=True))


class RecommendationRule(CatalogueTable, table=True):
    """Weights and thresholds of the shortage score; the newest row in force is used."""

    __tablename__ = "recommendation_rules"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=40)
    valid_from: date
    weights: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    caps: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    thresholds: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    note: str = Field(default="", max_length=2000)
    created_at: datetime | None = Field(default=None, sa_column=_now_column())


class Proposal(CatalogueTable, table=True):
    __tablename__ = "proposals"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    action: str = Field(max_length=10)  # add | remove | change
    occupation_code: str = Field(max_length=11)
    work_type: str | None = Field(default=None, max_length=100)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    rationale: str = Field(max_length=4000)
    period: str | None = Field(default=None, max_length=7)
    status: str = Field(default="pending", max_length=10)  # pending | approved | rejected
    proposed_by: str = Field(max_length=200)
    proposed_at: datetime | None = Field(default=None, sa_column=_now_column())
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    decision_note: str | None = Field(default=None, max_length=2000)
    applied_to: uuid.UUID | None = None
