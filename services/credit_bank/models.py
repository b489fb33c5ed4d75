"""Credit bank tables (schema ``credit_bank``)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import Numeric, UniqueConstraint
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
