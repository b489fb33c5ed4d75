"""Assessment tables (schema ``assessment``): bodies, filings, candidates, records, certificates."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    Numeric,
    Sequence,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.kit.audit import audit_table
from services.kit.db import service_metadata
from services.kit.feed import outbox_tables
from services.kit.idempotency import idempotency_table
from services.kit.ratelimit import rate_buckets_table

SCHEMA = "assessment"
metadata = service_metadata(SCHEMA)
events_table, events_horizon_table = outbox_tables(metadata)
idempotency_keys_table = idempotency_table(metadata)
audit_log_table = audit_table(metadata)
# Public verification's limit, shared by every replica (issue 11).
rate_buckets = rate_buckets_table(metadata)
# A certificate's place in the status lists (entry ``status_index % 131072`` of list
# ``status_index // 131072``), handed out once at issue: the sequence counts certificates, and
# ``next_status_index()`` (asm_0004) maps the count through ``status_slots``, a random permutation.
certificate_status_index_seq = Sequence(
    "certificate_status_index_seq", start=0, minvalue=0, metadata=metadata, schema=SCHEMA
)


def _now_column() -> Any:
    return Field(
        default=None,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )


class AssessmentTable(SQLModel, registry=registry(metadata=metadata)):
    pass


class Body(AssessmentTable, table=True):
    """An assessment body: a university filed as employer body (Y) or a social body (S)."""

    __tablename__ = "bodies"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # The 6-digit body sequence inside certificate numbers, handed out once at creation.
    sequence: int | None = Field(
        default=None, sa_column=Column(Integer, Identity(start=1), nullable=False, unique=True)
    )
    name: str = Field(max_length=200)
    uscc: str = Field(max_length=18, unique=True)
    kind: str = Field(max_length=10)
    university_org: str | None = Field(default=None, max_length=100, index=True)
    district: str = Field(max_length=50)
    created_at: datetime | None = _now_column()


class Filing(AssessmentTable, table=True):
    """The registration that lets a body assess given occupations and levels for a period."""

    __tablename__ = "filings"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    body_id: uuid.UUID = Field(foreign_key="assessment.bodies.id", index=True)
    filing_no: str = Field(max_length=50, unique=True)
    scope: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    valid_from: date
    valid_to: date
    status: str = Field(default="active", max_length=10)
    status_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime | None = _now_column()


class Candidate(AssessmentTable, table=True):
    """A person assessed; the ID number is kept only sealed (AES-GCM) and as a mask."""

    __tablename__ = "candidates"

    learner_id: str = Field(primary_key=True, max_length=40)
    # Each university keeps its own copy of what it uploaded: one university's upload never
    # rewrites the name or student number another university sees ('' for a body with no university).
    owner_org: str = Field(default="", primary_key=True, max_length=100)
    id_number_sealed: str = Field(max_length=200)
    id_number_masked: str = Field(max_length=18)
    name: str = Field(max_length=100)
    student_no: str = Field(max_length=50)
    school_org: str = Field(max_length=100, index=True)
    graduation_year: int
    major: str = Field(max_length=100)
    updated_at: datetime | None = _now_column()


class Record(AssessmentTable, table=True):
    """One assessment result; a pass points at its certificate."""

    __tablename__ = "records"
    __table_args__ = (UniqueConstraint("body_id", "external_id", name="uq_records_body_id_external_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    batch_id: uuid.UUID = Field(index=True)
    body_id: uuid.UUID = Field(foreign_key="assessment.bodies.id")
    university_org: str | None = Field(default=None, max_length=100, index=True)
    external_id: str = Field(max_length=100)
    learner_id: str = Field(max_length=40, index=True)
    occupation_code: str = Field(max_length=20)
    work_type: str | None = Field(default=None, max_length=100)
    level: int
    exam_date: date
    theory_score: Decimal = Field(sa_column=Column(Numeric(4, 1), nullable=False))
    practical_score: Decimal = Field(sa_column=Column(Numeric(4, 1), nullable=False))
    review_score: Decimal | None = Field(default=None, sa_column=Column(Numeric(4, 1), nullable=True))
    passed: bool
    certificate_number: str | None = Field(default=None, max_length=22)
    created_at: datetime | None = _now_column()


class Certificate(AssessmentTable, table=True):
    """A skill-level certificate, numbered in the national 22-character format."""

    __tablename__ = "certificates"
    # The status lists read only the few certificates that are not valid.
    __table_args__ = (
        Index(
            "ix_certificates_status_index_not_valid",
            "status_index",
            postgresql_where=text("status <> 'valid'"),
        ),
    )

    number: str = Field(primary_key=True, max_length=22)
    record_id: uuid.UUID = Field(unique=True)
    learner_id: str = Field(max_length=40, index=True)
    holder_name: str = Field(max_length=100)
    university_org: str | None = Field(default=None, max_length=100, index=True)
    body_id: uuid.UUID = Field(foreign_key="assessment.bodies.id")
    occupation_code: str = Field(max_length=20)
    occupation_name: str | None = Field(default=None, max_length=200)
    work_type: str | None = Field(default=None, max_length=100)
    level: int
    issued_on: date
    status: str = Field(default="valid", max_length=10)
    status_reason: str | None = Field(default=None, max_length=500)
    in_catalogue_on_issue: bool
    edition_id: str | None = Field(default=None, max_length=64)
    # Filled by the sequence on insert (COPY included), so issuing never has to name it.
    status_index: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            server_default=text("assessment.next_status_index()"),
            nullable=False,
            unique=True,
        ),
    )
    created_at: datetime | None = _now_column()
    updated_at: datetime | None = _now_column()


class StatusSlot(AssessmentTable, table=True):
    """A random permutation of the entries of one status list, drawn once by asm_0004."""

    __tablename__ = "status_slots"

    position: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    slot: int = Field(unique=True)


class Batch(AssessmentTable, table=True):
    """An upload and its per-row answer, kept for ``GET /batches/{id}`` and replays."""

    __tablename__ = "batches"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    body_id: uuid.UUID = Field(foreign_key="assessment.bodies.id")
    university_org: str | None = Field(default=None, max_length=100, index=True)
    mode: str = Field(max_length=20)
    status: str = Field(default="completed", max_length=20)
    accepted: int
    rejected: int
    duplicates: int
    rows: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime | None = _now_column()


class CertificateSerial(AssessmentTable, table=True):
    """Next free serial per (body sequence, issue year, level); the row lock orders batches."""

    __tablename__ = "certificate_serials"

    body_sequence: int = Field(primary_key=True)
    issue_year: int = Field(primary_key=True)
    level: int = Field(primary_key=True)
    next_serial: int
