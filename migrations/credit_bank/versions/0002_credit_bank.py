"""credit_bank: conversion rules, accounts, outcomes, conversions, the append-only ledger, feed cursor

Revision ID: cb_0002
Revises: cb_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "cb_0002"
down_revision = "cb_0001"
branch_labels = None
depends_on = None
SCHEMA = "credit_bank"


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "conversion_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=True),
        sa.Column("university_org", sa.String(100), nullable=True),
        sa.Column("occupation_code", sa.String(20), nullable=False),
        sa.Column("min_level", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Numeric(6, 1), nullable=False),
        sa.Column("course_codes", postgresql.JSONB(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversion_rules"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_conversion_rules_occupation_code", "conversion_rules", ["occupation_code", "programme_id"], schema=SCHEMA
    )
    op.create_index("ix_conversion_rules_programme_id", "conversion_rules", ["programme_id"], schema=SCHEMA)
    op.create_table(
        "accounts",
        sa.Column("learner_id", sa.String(64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("learner_id", name="pk_accounts"),
        schema=SCHEMA,
    )
    op.create_table(
        "account_universities",
        sa.Column("learner_id", sa.String(64), nullable=False),
        sa.Column("university_org", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("learner_id", "university_org", name="pk_account_universities"),
        schema=SCHEMA,
    )
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("learner_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("certificate_number", sa.String(40), nullable=True),
        sa.Column("occupation_code", sa.String(20), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("evidence", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.String(500), nullable=True),
        sa.Column("deposited_by", sa.String(200), nullable=False),
        sa.Column("deposited_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outcomes"),
        sa.UniqueConstraint("certificate_number", name="uq_outcomes_certificate_number"),
        schema=SCHEMA,
    )
    op.create_index("ix_outcomes_learner_id", "outcomes", ["learner_id"], schema=SCHEMA)
    op.create_table(
        "conversions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("learner_id", sa.String(64), nullable=False),
        sa.Column("outcome_id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("university_org", sa.String(100), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("occupation_code", sa.String(20), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Numeric(6, 1), nullable=False),
        sa.Column("course_codes", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverse_reason", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_conversions"),
        sa.UniqueConstraint("outcome_id", "programme_id", name="uq_conversions_outcome_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_conversions_learner_id", "conversions", ["learner_id", "programme_id"], schema=SCHEMA)
    op.create_table(
        "converted_courses",
        sa.Column("learner_id", sa.String(64), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("course_code", sa.String(50), nullable=False),
        sa.Column("conversion_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("learner_id", "programme_id", "course_code", name="pk_converted_courses"),
        schema=SCHEMA,
    )
    op.create_index("ix_converted_courses_conversion_id", "converted_courses", ["conversion_id"], schema=SCHEMA)
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("learner_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("credits", sa.Numeric(6, 1), nullable=False),
        sa.Column("outcome_id", sa.Uuid(), nullable=False),
        sa.Column("conversion_id", sa.Uuid(), nullable=True),
        sa.Column("programme_id", sa.Uuid(), nullable=True),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.UniqueConstraint("conversion_id", "kind", name="uq_ledger_entries_conversion_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_ledger_entries_learner_id", "ledger_entries", ["learner_id", "id"], schema=SCHEMA)
    # Append-only: this service's own role (the owner, running this migration) gives up UPDATE,
    # DELETE and TRUNCATE, and a trigger refuses UPDATE, DELETE and TRUNCATE for anyone else (a superuser).
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {SCHEMA}.ledger_entries FROM CURRENT_USER")
    op.execute(
        f"""CREATE FUNCTION {SCHEMA}.ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'credit_bank.ledger_entries is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$"""
    )
    op.execute(
        # Per statement, so TRUNCATE and a statement that matches no row are refused as well.
        f"CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {SCHEMA}.ledger_entries "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.ledger_entries_append_only()"
    )
    op.create_table(
        "feed_cursors",
        sa.Column("feed", sa.String(40), nullable=False),
        sa.Column("cursor", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
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
    op.execute(f"DROP TRIGGER ledger_entries_append_only ON {SCHEMA}.ledger_entries")
    op.execute(f"DROP FUNCTION {SCHEMA}.ledger_entries_append_only()")
    op.drop_table("ledger_entries", schema=SCHEMA)
    op.drop_table("converted_courses", schema=SCHEMA)
    op.drop_table("conversions", schema=SCHEMA)
    op.drop_table("outcomes", schema=SCHEMA)
    op.drop_table("account_universities", schema=SCHEMA)
    op.drop_table("accounts", schema=SCHEMA)
    op.drop_table("conversion_rules", schema=SCHEMA)
