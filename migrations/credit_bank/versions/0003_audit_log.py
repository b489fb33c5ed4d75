"""credit_bank: append-only audit log of admin and university changes

Revision ID: cb_0003
Revises: cb_0002
"""

from alembic import op

from services.kit.audit import create_audit_log, drop_audit_log

revision = "cb_0003"
down_revision = "cb_0002"
branch_labels = None
depends_on = None
SCHEMA = "credit_bank"


def upgrade() -> None:
    create_audit_log(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_audit_log(op.get_bind(), SCHEMA)
