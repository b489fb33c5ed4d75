"""assessment: append-only audit log of admin and university changes

Revision ID: asm_0005
Revises: asm_0004
"""

from alembic import op

from services.kit.audit import create_audit_log, drop_audit_log

revision = "asm_0005"
down_revision = "asm_0004"
branch_labels = None
depends_on = None
SCHEMA = "assessment"


def upgrade() -> None:
    create_audit_log(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_audit_log(op.get_bind(), SCHEMA)
