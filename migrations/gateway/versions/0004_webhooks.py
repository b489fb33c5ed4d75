"""gateway: webhook subscriptions, their delivery log, and the dispatcher's feed cursors

Revision ID: gw_0004
Revises: gw_0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "gw_0004"
down_revision = "gw_0003"
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_sub", sa.String(200), nullable=False),
        sa.Column("owner_role", sa.String(20), nullable=False),
        sa.Column("owner_org", sa.String(100), nullable=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String(100)), nullable=False),
        sa.Column("secret_sealed", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("disabled_reason", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        schema=SCHEMA,
    )
    op.create_index("ix_webhooks_owner_sub", "webhooks", ["owner_sub"], schema=SCHEMA)
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("feed", sa.String(50), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", postgresql.JSONB(), nullable=False),
        sa.Column("replay", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        schema=SCHEMA,
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"], schema=SCHEMA)
    op.create_index(
        "ix_webhook_deliveries_webhook_created", "webhook_deliveries", ["webhook_id", "created_at"], schema=SCHEMA
    )
    op.create_index(
        "uq_webhook_deliveries_original",
        "webhook_deliveries",
        ["webhook_id", "feed", "event_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("NOT replay"),
    )
    op.create_table(
        "webhook_cursors",
        sa.Column("feed", sa.String(50), nullable=False),
        sa.Column("cursor", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("feed", name="pk_webhook_cursors"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("webhook_cursors", schema=SCHEMA)
    op.drop_table("webhook_deliveries", schema=SCHEMA)
    op.drop_table("webhooks", schema=SCHEMA)
