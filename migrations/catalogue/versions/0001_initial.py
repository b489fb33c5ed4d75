"""catalogue: kernel tables (outbox, idempotency) and the occupation classification

Revision ID: cat_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.kit.migrate import create_kernel_tables, drop_kernel_tables

revision = "cat_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "catalogue"


def upgrade() -> None:
    create_kernel_tables(op.get_bind(), SCHEMA)
    op.create_table(
        "occupations",
        sa.Column("classification", sa.String(10), nullable=False),
        sa.Column("code", sa.String(11), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("major", sa.String(1), nullable=False),
        sa.Column("middle", sa.String(4), nullable=False),
        sa.Column("minor", sa.String(7), nullable=False),
        sa.PrimaryKeyConstraint("classification", "code", name="pk_occupations"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("occupations", schema=SCHEMA)
    drop_kernel_tables(op.get_bind(), SCHEMA)
