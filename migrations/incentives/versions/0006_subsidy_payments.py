"""incentives: payments of approved skill-subsidy claims (one per claim)

Revision ID: inc_0006
Revises: inc_0005
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "inc_0006"
down_revision = "inc_0005"
branch_labels = None
depends_on = None
SCHEMA = "incentives"
STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "subsidy_payments",
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", STR(100), nullable=True),
        sa.Column("paid_by", STR(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("claim_id", name="pk_subsidy_payments"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("subsidy_payments", schema=SCHEMA)
