"""incentives: evaluations, subsidy claims, certificate facts from assessment's feed, allocations

Revision ID: inc_0002
Revises: inc_0001
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "inc_0002"
down_revision = "inc_0001"
branch_labels = None
depends_on = None
SCHEMA = "incentives"
STR = sqlmodel.sql.sqltypes.AutoString


def _created_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True)


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("learner_id", STR(64), nullable=False),
        sa.Column("scheme", STR(40), nullable=False),
        sa.Column("ruleset_id", sa.Uuid(), nullable=False),
        sa.Column("ruleset_version", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("declared", postgresql.JSONB(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("passes", sa.Boolean(), nullable=False),
        sa.Column("items", postgresql.JSONB(), nullable=False),
        sa.Column("requested_by", STR(200), nullable=False),
        sa.Column("org", STR(100), nullable=True),
        sa.Column("rerun_of", sa.Uuid(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
        schema=SCHEMA,
    )
    op.create_index("ix_evaluations_learner_created", "evaluations", ["learner_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "subsidy_claims",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("learner_id", STR(64), nullable=False),
        sa.Column("certificate_number", STR(40), nullable=False),
        sa.Column("occupation_code", STR(20), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("claimed_on", sa.Date(), nullable=False),
        sa.Column("ruleset_id", sa.Uuid(), nullable=False),
        sa.Column("status", STR(12), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("in_catalogue", sa.Boolean(), nullable=False),
        sa.Column("edition_id", STR(64), nullable=True),
        sa.Column("reasons", postgresql.JSONB(), nullable=False),
        sa.Column("recovery_due", sa.Boolean(), nullable=False),
        sa.Column("org", STR(100), nullable=True),
        sa.Column("requested_by", STR(200), nullable=False),
        sa.Column("decided_by", STR(200), nullable=True),
        sa.Column("decision_reason", STR(500), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_subsidy_claims"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_subsidy_claims_learner", "subsidy_claims", ["learner_id", "occupation_code", "level"], schema=SCHEMA
    )
    op.create_index("ix_subsidy_claims_certificate", "subsidy_claims", ["certificate_number"], schema=SCHEMA)
    op.create_table(
        "certificate_facts",
        sa.Column("number", STR(40), nullable=False),
        sa.Column("learner_id", STR(64), nullable=False),
        sa.Column("university_org", STR(100), nullable=True),
        sa.Column("body_kind", STR(1), nullable=False),
        sa.Column("occupation_code", STR(20), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("in_catalogue", sa.Boolean(), nullable=False),
        sa.Column("status", STR(12), nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_certificate_facts"),
        schema=SCHEMA,
    )
    op.create_index("ix_certificate_facts_university_org", "certificate_facts", ["university_org"], schema=SCHEMA)
    op.create_table(
        "allocations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("pool", sa.Numeric(14, 2), nullable=False),
        sa.Column("ruleset_id", sa.Uuid(), nullable=False),
        sa.Column("lines", postgresql.JSONB(), nullable=False),
        sa.Column("created_by", STR(200), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_allocations"),
        schema=SCHEMA,
    )
    op.create_index("ix_allocations_year", "allocations", ["year"], schema=SCHEMA)
    op.create_table(
        "feed_cursors",
        sa.Column("feed", STR(40), nullable=False),
        sa.Column("cursor", STR(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("feed", name="pk_feed_cursors"),
        schema=SCHEMA,
    )
    op.create_table(
        "applied_feed_events",
        sa.Column("feed", sa.String(40), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("feed", "event_id", name="pk_applied_feed_events"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("applied_feed_events", schema=SCHEMA)
    op.drop_table("feed_cursors", schema=SCHEMA)
    op.drop_index("ix_allocations_year", table_name="allocations", schema=SCHEMA)
    op.drop_table("allocations", schema=SCHEMA)
    op.drop_index("ix_certificate_facts_university_org", table_name="certificate_facts", schema=SCHEMA)
    op.drop_table("certificate_facts", schema=SCHEMA)
    op.drop_index("ix_subsidy_claims_certificate", table_name="subsidy_claims", schema=SCHEMA)
    op.drop_index("ix_subsidy_claims_learner", table_name="subsidy_claims", schema=SCHEMA)
    op.drop_table("subsidy_claims", schema=SCHEMA)
    op.drop_index("ix_evaluations_learner_created", table_name="evaluations", schema=SCHEMA)
    op.drop_table("evaluations", schema=SCHEMA)
