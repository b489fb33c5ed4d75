"""statistics: kernel tables and the read model

Revision ID: st_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.kit.migrate import create_kernel_tables, drop_kernel_tables

revision = "st_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "statistics"
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _tables() -> sa.MetaData:
    """The read model as it was at this revision (a frozen copy, not an import of models.py)."""
    md = sa.MetaData(schema=SCHEMA, naming_convention=NAMING)
    sa.Table(
        "feed_cursors",
        md,
        sa.Column("source", sa.String(50), primary_key=True),
        sa.Column("cursor", sa.String(64), nullable=True),
        sa.Column("events_applied", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )

    sa.Table(
        "bodies",
        md,
        sa.Column("body_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("district", sa.String(50), nullable=False),
        sa.Column("university_org", sa.String(100), nullable=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )

    sa.Table(
        "certificates",
        md,
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("learner_id", sa.String(128), nullable=False, index=True),
        sa.Column("occupation_code", sa.String(20), nullable=False),
        sa.Column("occupation_name", sa.String(200), nullable=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("body_id", sa.String(64), nullable=False),
        sa.Column("university_org", sa.String(100), nullable=True, index=True),
        sa.Column("issued_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("in_catalogue_on_issue", sa.Boolean, nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )

    # One row per certificate event: issued / suspended / reinstated / revoked, on the day it happened.
    sa.Table(
        "certificate_events",
        md,
        sa.Column("event_id", sa.BigInteger, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False, index=True),
        sa.Column("verb", sa.String(20), nullable=False),
        sa.Column("on_date", sa.Date, nullable=False),
    )

    sa.Table(
        "editions",
        md,
        sa.Column("edition_id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("effective_from", sa.Date, nullable=True),
        sa.Column("effective_to", sa.Date, nullable=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )

    sa.Table(
        "edition_entries",
        md,
        sa.Column("entry_id", sa.String(64), primary_key=True),
        sa.Column("edition_id", sa.String(64), nullable=False, index=True),
        sa.Column("occupation_code", sa.String(20), nullable=False),
        sa.Column("work_type", sa.String(100), nullable=True),
        sa.Column("min_level", sa.Integer, nullable=True),
        sa.Column("industries", sa.ARRAY(sa.String(50)), nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )

    sa.Table(
        "conversions",
        md,
        sa.Column("conversion_id", sa.String(64), primary_key=True),
        sa.Column("learner_id", sa.String(128), nullable=False),
        sa.Column("university_org", sa.String(100), nullable=True, index=True),
        sa.Column("occupation_code", sa.String(20), nullable=True),
        sa.Column("level", sa.Integer, nullable=True),
        sa.Column("credits", sa.Numeric(6, 1), nullable=False),
        sa.Column("posted_on", sa.Date, nullable=False),
        sa.Column("reversed_on", sa.Date, nullable=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )

    sa.Table(
        "evaluations",
        md,
        sa.Column("evaluation_id", sa.String(64), primary_key=True),
        sa.Column("learner_id", sa.String(128), nullable=False),
        sa.Column("scheme", sa.String(50), nullable=False),
        sa.Column("total", sa.Numeric(8, 2), nullable=True),
        sa.Column("threshold", sa.Numeric(8, 2), nullable=True),
        sa.Column("skill_points", sa.Numeric(8, 2), nullable=True),
        sa.Column("passes", sa.Boolean, nullable=True),
        sa.Column("evaluated_on", sa.Date, nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )

    sa.Table(
        "subsidy_claims",
        md,
        sa.Column("claim_id", sa.String(64), primary_key=True),
        sa.Column("certificate_number", sa.String(32), nullable=True),
        sa.Column("learner_id", sa.String(128), nullable=False),
        sa.Column("occupation_code", sa.String(20), nullable=True),
        sa.Column("level", sa.Integer, nullable=True),
        sa.Column("in_catalogue", sa.Boolean, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("claimed_on", sa.Date, nullable=False),
        sa.Column("decided_on", sa.Date, nullable=True),
        sa.Column("paid_on", sa.Date, nullable=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )

    sa.Table(
        "graduates",
        md,
        sa.Column("university_org", sa.String(100), nullable=False),
        sa.Column("graduation_year", sa.Integer, nullable=False),
        sa.Column("graduating_students", sa.Integer, nullable=False),
        sa.Column("district", sa.String(50), nullable=True),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("university_org", "graduation_year", name="pk_graduates"),
    )
    return md


def upgrade() -> None:
    create_kernel_tables(op.get_bind(), SCHEMA)
    _tables().create_all(op.get_bind())


def downgrade() -> None:
    _tables().drop_all(op.get_bind())
    drop_kernel_tables(op.get_bind(), SCHEMA)
