"""gateway: rate-limit buckets shared by every gateway replica

Revision ID: gw_0002
Revises: gw_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "gw_0002"
down_revision = "gw_0001"
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_buckets"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("rate_buckets", schema=SCHEMA)
