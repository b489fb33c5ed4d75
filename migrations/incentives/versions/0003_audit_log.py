"""incentives: append-only audit log of admin and university changes

Revision ID: inc_0003
Revises: inc_0002
"""

from alembic import op

from services.kit.audit import create_audit_log, drop_audit_log

revision = "inc_0003"
down_revision = "inc_0002"
branch_labels = None
depends_on = None
SCHEMA = "incentives"


def upgrade() -> None:
    create_audit_log(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_audit_log(op.get_bind(), SCHEMA)
