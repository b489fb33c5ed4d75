"""assessment: a status-list index per certificate

Each certificate gets a fixed place in the Bitstring Status Lists (revocation, suspension) its
Verifiable Credential points at. Existing certificates are numbered in issue order.

Revision ID: asm_0003
Revises: asm_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "asm_0003"
down_revision = "asm_0002"
branch_labels = None
depends_on = None
SCHEMA = "assessment"
SEQ = f"{SCHEMA}.certificate_status_index_seq"


def upgrade() -> None:
    op.execute(f"CREATE SEQUENCE {SEQ} MINVALUE 0 START WITH 0")
    op.add_column("certificates", sa.Column("status_index", sa.Integer(), nullable=True), schema=SCHEMA)
    # nextval in a stable order (issue, then number): a subquery's ORDER BY fixes the order the
    # values are drawn in, so a re-run on a copy of the data numbers it the same way.
    op.execute(f"""
        UPDATE {SCHEMA}.certificates c SET status_index = o.idx
        FROM (SELECT number, nextval('{SEQ}') AS idx
              FROM (SELECT number FROM {SCHEMA}.certificates
                    ORDER BY issued_on, created_at, number) ordered) o
        WHERE c.number = o.number""")
    op.alter_column(
        "certificates", "status_index", nullable=False, server_default=sa.text(f"nextval('{SEQ}')"), schema=SCHEMA
    )
    op.create_unique_constraint("uq_certificates_status_index", "certificates", ["status_index"], schema=SCHEMA)
    op.create_index(
        "ix_certificates_status_index_not_valid",
        "certificates",
        ["status_index"],
        schema=SCHEMA,
        postgresql_where=sa.text("status <> 'valid'"),
    )


def downgrade() -> None:
    op.drop_index("ix_certificates_status_index_not_valid", "certificates", schema=SCHEMA)
    op.drop_constraint("uq_certificates_status_index", "certificates", schema=SCHEMA)
    op.drop_column("certificates", "status_index", schema=SCHEMA)
    op.execute(f"DROP SEQUENCE {SEQ}")
