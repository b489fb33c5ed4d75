"""incentives: assessment bodies from the feed (a university's district) and district funding calculations

The assessment feed cursor is dropped so the next poll re-reads the feed from the start: body
events passed before this revision are learnt, while certificate events already applied are
skipped by ``applied_feed_events``.

Revision ID: inc_0004
Revises: inc_0003
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "inc_0004"
down_revision = "inc_0003"
branch_labels = None
depends_on = None
SCHEMA = "incentives"
STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "assessment_bodies",
        sa.Column("body_id", STR(64), nullable=False),
        sa.Column("kind", STR(10), nullable=False),
        sa.Column("district", STR(50), nullable=False),
        sa.Column("university_org", STR(100), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("body_id", name="pk_assessment_bodies"),
        schema=SCHEMA,
    )
    op.create_index("ix_assessment_bodies_university_org", "assessment_bodies", ["university_org"], schema=SCHEMA)
    op.create_table(
        "district_funding_calculations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("district", STR(50), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("ruleset_id", sa.Uuid(), nullable=False),
        sa.Column("ruleset_version", sa.Integer(), nullable=False),
        sa.Column("total", sa.Numeric(14, 2), nullable=False),
        sa.Column("lines", postgresql.JSONB(), nullable=False),
        sa.Column("created_by", STR(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_district_funding_calculations"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_district_funding_calculations_district_year",
        "district_funding_calculations",
        ["district", "year"],
        schema=SCHEMA,
    )
    op.execute(f"DELETE FROM {SCHEMA}.feed_cursors WHERE feed = 'assessment'")


def downgrade() -> None:
    op.drop_index(
        "ix_district_funding_calculations_district_year", table_name="district_funding_calculations", schema=SCHEMA
    )
    op.drop_table("district_funding_calculations", schema=SCHEMA)
    op.drop_index("ix_assessment_bodies_university_org", table_name="assessment_bodies", schema=SCHEMA)
    op.drop_table("assessment_bodies", schema=SCHEMA)
