"""Gateway tables (schema ``gateway``): OAuth clients with hashed secrets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, String, func
from sqlalchemy.dialects.postgresql import ARRAY
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
