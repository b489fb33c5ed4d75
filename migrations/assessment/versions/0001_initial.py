"""assessment: kernel tables and assessment bodies

Revision ID: asm_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from services.kit.migrate import create_kernel_tables, drop_kernel_tables

revision = "asm_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "assessment"


def upgrade() -> None:
    create_kernel_tables(op.get_bind(), SCHEMA)
    op.create_table(
        "bodies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("university_org", sa.String(100), nullable=True),
        sa.Column("district", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bodies"),
        sa.UniqueConstraint("uscc", name="uq_bodies_uscc"),
        schema=SCHEMA,
    )
    op.create_index("ix_bodies_university_org", "bodies", ["university_org"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_bodies_university_org", table_name="bodies", schema=SCHEMA)
    op.drop_table("bodies", schema=SCHEMA)
    drop_kernel_tables(op.get_bind(), SCHEMA)
