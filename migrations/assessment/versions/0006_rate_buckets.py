"""assessment: the public verification limit's token buckets, shared by every replica

Revision ID: asm_0006
Revises: asm_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "asm_0006"
down_revision = "asm_0005"
branch_labels = None
depends_on = None
SCHEMA = "assessment"


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
