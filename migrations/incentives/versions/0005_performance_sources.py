"""incentives: graduation year and school on certificate facts; the credit bank's conversions from its feed

Certificate facts gain the candidate's ``graduation_year`` and ``school_org`` (assessment's events
carry them from now on; older facts keep NULL: unknown) and an index on ``learner_id`` (a
university's own students). ``credit_conversions`` is the credit bank's feed as read
(``credit_bank.conversion.posted|reversed``), cursor ``credit_bank`` in ``feed_cursors``.

Revision ID: inc_0005
Revises: inc_0004
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "inc_0005"
down_revision = "inc_0004"
branch_labels = None
depends_on = None
SCHEMA = "incentives"
STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.add_column("certificate_facts", sa.Column("graduation_year", sa.Integer(), nullable=True), schema=SCHEMA)
    op.add_column("certificate_facts", sa.Column("school_org", STR(100), nullable=True), schema=SCHEMA)
    op.create_index("ix_certificate_facts_learner_id", "certificate_facts", ["learner_id"], schema=SCHEMA)
    op.create_index("ix_certificate_facts_school_org", "certificate_facts", ["school_org"], schema=SCHEMA)
    op.create_table(
        "credit_conversions",
        sa.Column("conversion_id", STR(64), nullable=False),
        sa.Column("learner_id", STR(64), nullable=False),
        sa.Column("university_org", STR(100), nullable=True),
        sa.Column("occupation_code", STR(20), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("credits", sa.Numeric(8, 2), nullable=False),
        sa.Column("posted_on", sa.Date(), nullable=False),
        sa.Column("reversed_on", sa.Date(), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("conversion_id", name="pk_credit_conversions"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_credit_conversions_university_org_posted_on",
        "credit_conversions",
        ["university_org", "posted_on"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index("ix_credit_conversions_university_org_posted_on", table_name="credit_conversions", schema=SCHEMA)
    op.drop_table("credit_conversions", schema=SCHEMA)
    op.execute(f"DELETE FROM {SCHEMA}.feed_cursors WHERE feed = 'credit_bank'")
    op.execute(f"DELETE FROM {SCHEMA}.applied_feed_events WHERE feed = 'credit_bank'")
    op.drop_index("ix_certificate_facts_school_org", table_name="certificate_facts", schema=SCHEMA)
    op.drop_index("ix_certificate_facts_learner_id", table_name="certificate_facts", schema=SCHEMA)
    op.drop_column("certificate_facts", "school_org", schema=SCHEMA)
    op.drop_column("certificate_facts", "graduation_year", schema=SCHEMA)
