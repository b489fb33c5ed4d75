"""assessment: a candidate row per (learner, owning university)

One university's upload must not rewrite the name or student number another university sees.

Revision ID: asm_0002
Revises: asm_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "asm_0002"
down_revision = "asm_0001"
branch_labels = None
depends_on = None
SCHEMA = "assessment"


def upgrade() -> None:
    op.add_column(
        "candidates", sa.Column("owner_org", sa.String(100), nullable=False, server_default=""), schema=SCHEMA
    )
    # Existing rows belong to the university of the learner's earliest record.
    op.execute(f"""
        UPDATE {SCHEMA}.candidates c SET owner_org = coalesce((
            SELECT r.university_org FROM {SCHEMA}.records r WHERE r.learner_id = c.learner_id
            ORDER BY r.created_at LIMIT 1), '')""")
    op.alter_column("candidates", "owner_org", server_default=None, schema=SCHEMA)
    op.drop_constraint("pk_candidates", "candidates", schema=SCHEMA)
    op.create_primary_key("pk_candidates", "candidates", ["learner_id", "owner_org"], schema=SCHEMA)


def downgrade() -> None:
    op.execute(f"""
        DELETE FROM {SCHEMA}.candidates c USING {SCHEMA}.candidates d
        WHERE c.learner_id = d.learner_id AND c.owner_org > d.owner_org""")
    op.drop_constraint("pk_candidates", "candidates", schema=SCHEMA)
    op.create_primary_key("pk_candidates", "candidates", ["learner_id"], schema=SCHEMA)
    op.drop_column("candidates", "owner_org", schema=SCHEMA)
