"""gateway: kernel tables and OAuth clients

Revision ID: gw_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kit.migrate import create_kernel_tables, drop_kernel_tables

revision = "gw_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    create_kernel_tables(op.get_bind(), SCHEMA)
    op.create_table(
        "clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("org", sa.String(100), nullable=True),
        sa.Column("scopes", postgresql.ARRAY(sa.String(100)), nullable=False),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name="pk_clients"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("clients", schema=SCHEMA)
    drop_kernel_tables(op.get_bind(), SCHEMA)
