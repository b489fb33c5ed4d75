"""Assessment tables (schema ``assessment``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, func
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.kit.db import service_metadata
from services.kit.feed import outbox_tables
from services.kit.idempotency import idempotency_table

SCHEMA = "assessment"
metadata = service_metadata(SCHEMA)
events_table, events_horizon_table = outbox_tables(metadata)
idempotency_keys_table = idempotency_table(metadata)


class AssessmentTable(SQLModel, registry=registry(metadata=metadata)):
    pass


class Body(AssessmentTable, table=True):
    """An assessment body: a university filed as employer body (Y) or a social body (S)."""

    __tablename__ = "bodies"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    uscc: str = Field(max_length=18, unique=True)
    kind: str = Field(max_length=10)
    university_org: str | None = Field(default=None, max_length=100, index=True)
    district: str = Field(max_length=50)
    created_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True),
                                        sa_column_kwargs={"server_default": func.now()})
