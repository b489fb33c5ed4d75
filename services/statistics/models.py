"""The bureau's read model (schema ``statistics``): rows applied from the other services' feeds.

Nothing here is the truth about a certificate, a conversion or a claim: each row is what a source
service's change feed said, keyed by that source's own id, with the feed position (``event_id``)
of the last event applied to it. An event is applied only if it is newer than the row, and count
rows are keyed by the event itself, so a page applied twice or a feed replayed from the start
leaves the same rows. Graduating-student counts are the one thing no feed carries: the bureau
enters them (``PUT /v1/graduates``).
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
)

from services.kit.audit import audit_table
from services.kit.db import service_metadata
from services.kit.feed import outbox_tables
from services.kit.idempotency import idempotency_table

SCHEMA = "statistics"
metadata = service_metadata(SCHEMA)
events_table, events_horizon_table = outbox_tables(metadata)
idempotency_keys_table = idempotency_table(metadata)
audit_log_table = audit_table(metadata)

feed_cursors = Table(
    "feed_cursors",
    metadata,
    Column("source", String(50), primary_key=True),
    Column("cursor", String(64), nullable=True),
    Column("events_applied", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

bodies = Table(
    "bodies",
    metadata,
    Column("body_id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("district", String(50), nullable=False),
    Column("university_org", String(100), nullable=True),
    Column("event_id", BigInteger, nullable=False),
)

certificates = Table(
    "certificates",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("learner_id", String(128), nullable=False, index=True),
    Column("occupation_code", String(20), nullable=False),
    Column("occupation_name", String(200), nullable=True),
    Column("level", Integer, nullable=False),
    Column("body_id", String(64), nullable=False),
    Column("university_org", String(100), nullable=True, index=True),
    Column("issued_on", Date, nullable=False),
    Column("status", String(20), nullable=False),
    Column("in_catalogue_on_issue", Boolean, nullable=False),
    Column("event_id", BigInteger, nullable=False),
)

# One row per certificate event: issued / suspended / reinstated / revoked, on the day it happened.
certificate_events = Table(
    "certificate_events",
    metadata,
    Column("event_id", BigInteger, primary_key=True),
    Column("number", String(32), nullable=False, index=True),
    Column("verb", String(20), nullable=False),
    Column("on_date", Date, nullable=False),
)

editions = Table(
    "editions",
    metadata,
    Column("edition_id", String(64), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("effective_from", Date, nullable=True),
    Column("effective_to", Date, nullable=True),
    Column("event_id", BigInteger, nullable=False),
)

edition_entries = Table(
    "edition_entries",
    metadata,
    Column("entry_id", String(64), primary_key=True),
    Column("edition_id", String(64), nullable=False, index=True),
    Column("occupation_code", String(20), nullable=False),
    Column("work_type", String(100), nullable=True),
    Column("min_level", Integer, nullable=True),
    Column("industries", ARRAY(String(50)), nullable=False),
    Column("removed", Boolean, nullable=False, server_default="false"),
    Column("event_id", BigInteger, nullable=False),
)

conversions = Table(
    "conversions",
    metadata,
    Column("conversion_id", String(64), primary_key=True),
    Column("learner_id", String(128), nullable=False),
    Column("university_org", String(100), nullable=True, index=True),
    Column("occupation_code", String(20), nullable=True),
    Column("level", Integer, nullable=True),
    Column("credits", Numeric(6, 1), nullable=False),
    Column("posted_on", Date, nullable=False),
    Column("reversed_on", Date, nullable=True),
    Column("event_id", BigInteger, nullable=False),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("evaluation_id", String(64), primary_key=True),
    Column("learner_id", String(128), nullable=False),
    Column("scheme", String(50), nullable=False),
    Column("total", Numeric(8, 2), nullable=True),
    Column("threshold", Numeric(8, 2), nullable=True),
    Column("skill_points", Numeric(8, 2), nullable=True),
    Column("passes", Boolean, nullable=True),
    Column("evaluated_on", Date, nullable=False),
    Column("event_id", BigInteger, nullable=False),
)

subsidy_claims = Table(
    "subsidy_claims",
    metadata,
    Column("claim_id", String(64), primary_key=True),
    Column("certificate_number", String(32), nullable=True),
    Column("learner_id", String(128), nullable=False),
    Column("occupation_code", String(20), nullable=True),
    Column("level", Integer, nullable=True),
    Column("in_catalogue", Boolean, nullable=True),
    Column("status", String(20), nullable=False),
    Column("amount", Numeric(12, 2), nullable=True),
    Column("claimed_on", Date, nullable=False),
    Column("decided_on", Date, nullable=True),
    Column("paid_on", Date, nullable=True),
    Column("event_id", BigInteger, nullable=False),
)

graduates = Table(
    "graduates",
    metadata,
    Column("university_org", String(100), nullable=False),
    Column("graduation_year", Integer, nullable=False),
    Column("graduating_students", Integer, nullable=False),
    Column("district", String(50), nullable=True),
    Column("source", String(300), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("university_org", "graduation_year", name="pk_graduates"),
)
