"""Gateway tables (schema ``gateway``): OAuth clients with hashed secrets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, String, Table, Uuid, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.kit.audit import audit_table
from services.kit.db import service_metadata
from services.kit.feed import outbox_tables
from services.kit.idempotency import idempotency_table
from services.kit.ratelimit import rate_buckets_table

SCHEMA = "gateway"
metadata = service_metadata(SCHEMA)
events_table, events_horizon_table = outbox_tables(metadata)
idempotency_keys_table = idempotency_table(metadata)
audit_log_table = audit_table(metadata)
rate_buckets = rate_buckets_table(metadata)


class GatewayTable(SQLModel, registry=registry(metadata=metadata)):
    pass


class Client(GatewayTable, table=True):
    __tablename__ = "clients"

    client_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    org: str | None = Field(default=None, max_length=100)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String(100)), nullable=False))
    secret_hash: str = Field(max_length=200)
    disabled: bool = False
    created_at: datetime | None = Field(
        default=None, sa_type=DateTime(timezone=True), sa_column_kwargs={"server_default": func.now()}
    )


# Webhooks (issue 13): subscriptions, the delivery log, and where the dispatcher is in each feed.
webhooks_table = Table(
    "webhooks",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_sub", String(200), nullable=False),
    Column("owner_role", String(20), nullable=False),
    Column("owner_org", String(100), nullable=True),
    Column("url", String(2000), nullable=False),
    Column("event_types", ARRAY(String(100)), nullable=False),
    Column("secret_sealed", String(500), nullable=False),
    Column("status", String(20), nullable=False),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("disabled_reason", String(500), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("approved_at", DateTime(timezone=True), nullable=True),
    Index("ix_webhooks_owner_sub", "owner_sub"),
)
webhook_deliveries_table = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("webhook_id", Uuid, nullable=False),
    Column("feed", String(50), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("event", JSONB, nullable=False),
    Column("replay", Boolean, nullable=False, server_default=text("false")),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
    # One original delivery per subscription and event: the dispatcher may re-scan a page safely.
    Index(
        "uq_webhook_deliveries_original",
        "webhook_id",
        "feed",
        "event_id",
        unique=True,
        postgresql_where=text("NOT replay"),
    ),
)
webhook_cursors_table = Table(
    "webhook_cursors",
    metadata,
    Column("feed", String(50), primary_key=True),
    Column("cursor", String(64), nullable=True),
)
