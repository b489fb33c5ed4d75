"""credit_bank: kernel tables and programmes

Revision ID: cb_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.kit.migrate import create_kernel_tables, drop_kernel_tables

revision = "cb_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "credit_bank"


def upgrade() -> None:
    create_kernel_tables(op.get_bind(), SCHEMA)
    op.create_table(
        "programmes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("university_org", sa.String(100), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("graduation_credits", sa.Numeric(6, 1), nullable=False),
        sa.Column("max_converted_ratio", sa.Numeric(4, 3), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_programmes"),
        sa.UniqueConstraint("university_org", "code", name="uq_programmes_university_org_code"),
        schema=SCHEMA,
    )
    op.create_index("ix_programmes_university_org", "programmes", ["university_org"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_programmes_university_org", table_name="programmes", schema=SCHEMA)
    op.drop_table("programmes", schema=SCHEMA)
    drop_kernel_tables(op.get_bind(), SCHEMA)
