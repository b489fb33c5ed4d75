"""statistics: append-only audit log of admin and university changes

Revision ID: st_0002
Revises: st_0001
"""

from alembic import op

from services.kit.audit import create_audit_log, drop_audit_log

revision = "st_0002"
down_revision = "st_0001"
branch_labels = None
depends_on = None
SCHEMA = "statistics"


def upgrade() -> None:
    create_audit_log(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_audit_log(op.get_bind(), SCHEMA)
