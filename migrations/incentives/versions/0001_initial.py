"""incentives: kernel tables and rule sets

Revision ID: inc_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kit.migrate import create_kernel_tables, drop_kernel_tables

revision = "inc_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "incentives"


def upgrade() -> None:
    create_kernel_tables(op.get_bind(), SCHEMA)
    op.create_table(
        "rulesets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scheme", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("rules", postgresql.JSONB(), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rulesets"),
        sa.UniqueConstraint("scheme", "version", name="uq_rulesets_scheme_version"),
        schema=SCHEMA,
    )
    op.create_index("ix_rulesets_scheme", "rulesets", ["scheme"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_rulesets_scheme", table_name="rulesets", schema=SCHEMA)
    op.drop_table("rulesets", schema=SCHEMA)
    drop_kernel_tables(op.get_bind(), SCHEMA)
