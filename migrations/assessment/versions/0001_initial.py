"""assessment: kernel tables, bodies, filings, candidates, records, certificates, batches

Revision ID: asm_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.kit.migrate import create_kernel_tables, drop_kernel_tables

revision = "asm_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "assessment"


def _now() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    create_kernel_tables(op.get_bind(), SCHEMA)
    op.create_table(
        "bodies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), sa.Identity(start=1), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("university_org", sa.String(100), nullable=True),
        sa.Column("district", sa.String(50), nullable=False),
        _now(),
        sa.PrimaryKeyConstraint("id", name="pk_bodies"),
        sa.UniqueConstraint("uscc", name="uq_bodies_uscc"),
        sa.UniqueConstraint("sequence", name="uq_bodies_sequence"),
        sa.CheckConstraint("kind IN ('employer', 'social')", name="ck_bodies_kind"),
        schema=SCHEMA,
    )
    op.create_index("ix_bodies_university_org", "bodies", ["university_org"], schema=SCHEMA)
    op.create_table(
        "filings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "body_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.bodies.id", name="fk_filings_body_id_bodies"),
            nullable=False,
        ),
        sa.Column("filing_no", sa.String(50), nullable=False),
        sa.Column("scope", JSONB(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("status_reason", sa.String(500), nullable=True),
        _now(),
        sa.PrimaryKeyConstraint("id", name="pk_filings"),
        sa.UniqueConstraint("filing_no", name="uq_filings_filing_no"),
        sa.CheckConstraint("status IN ('active', 'suspended', 'revoked')", name="ck_filings_status"),
        schema=SCHEMA,
    )
    op.create_index("ix_filings_body_id", "filings", ["body_id"], schema=SCHEMA)
    op.create_table(
        "candidates",
        sa.Column("learner_id", sa.String(40), nullable=False),
        sa.Column("id_number_sealed", sa.String(200), nullable=False),
        sa.Column("id_number_masked", sa.String(18), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("student_no", sa.String(50), nullable=False),
        sa.Column("school_org", sa.String(100), nullable=False),
        sa.Column("graduation_year", sa.Integer(), nullable=False),
        sa.Column("major", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("learner_id", name="pk_candidates"),
        schema=SCHEMA,
    )
    op.create_index("ix_candidates_school_org", "candidates", ["school_org"], schema=SCHEMA)
    op.create_table(
        "records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column(
            "body_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.bodies.id", name="fk_records_body_id_bodies"),
            nullable=False,
        ),
        sa.Column("university_org", sa.String(100), nullable=True),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("learner_id", sa.String(40), nullable=False),
        sa.Column("occupation_code", sa.String(20), nullable=False),
        sa.Column("work_type", sa.String(100), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("exam_date", sa.Date(), nullable=False),
        sa.Column("theory_score", sa.Numeric(4, 1), nullable=False),
        sa.Column("practical_score", sa.Numeric(4, 1), nullable=False),
        sa.Column("review_score", sa.Numeric(4, 1), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("certificate_number", sa.String(22), nullable=True),
        _now(),
        sa.PrimaryKeyConstraint("id", name="pk_records"),
        sa.UniqueConstraint("body_id", "external_id", name="uq_records_body_id_external_id"),
        schema=SCHEMA,
    )
    for column in ("batch_id", "university_org", "learner_id"):
        op.create_index(f"ix_records_{column}", "records", [column], schema=SCHEMA)
    op.create_table(
        "certificates",
        sa.Column("number", sa.String(22), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("learner_id", sa.String(40), nullable=False),
        sa.Column("holder_name", sa.String(100), nullable=False),
        sa.Column("university_org", sa.String(100), nullable=True),
        sa.Column(
            "body_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.bodies.id", name="fk_certificates_body_id_bodies"),
            nullable=False,
        ),
        sa.Column("occupation_code", sa.String(20), nullable=False),
        sa.Column("occupation_name", sa.String(200), nullable=True),
        sa.Column("work_type", sa.String(100), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("status_reason", sa.String(500), nullable=True),
        sa.Column("in_catalogue_on_issue", sa.Boolean(), nullable=False),
        sa.Column("edition_id", sa.String(64), nullable=True),
        _now(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_certificates"),
        sa.UniqueConstraint("record_id", name="uq_certificates_record_id"),
        sa.CheckConstraint("status IN ('valid', 'suspended', 'revoked')", name="ck_certificates_status"),
        schema=SCHEMA,
    )
    op.create_index("ix_certificates_learner_id", "certificates", ["learner_id"], schema=SCHEMA)
    op.create_index("ix_certificates_university_org", "certificates", ["university_org"], schema=SCHEMA)
    op.create_table(
        "batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "body_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.bodies.id", name="fk_batches_body_id_bodies"),
            nullable=False,
        ),
        sa.Column("university_org", sa.String(100), nullable=True),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rows", JSONB(), nullable=False),
        _now(),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        schema=SCHEMA,
    )
    op.create_index("ix_batches_university_org", "batches", ["university_org"], schema=SCHEMA)
    op.create_table(
        "certificate_serials",
        sa.Column("body_sequence", sa.Integer(), nullable=False),
        sa.Column("issue_year", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("next_serial", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("body_sequence", "issue_year", "level", name="pk_certificate_serials"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "certificate_serials",
        "batches",
        "certificates",
        "records",
        "candidates",
        "filings",
        "bodies",
    ):
        op.drop_table(table, schema=SCHEMA)
    drop_kernel_tables(op.get_bind(), SCHEMA)
