"""assessment: status-list indexes drawn at random (herd privacy)

A credential's place in the Bitstring Status List must not give away when it was issued or which
certificates came from the same batch. ``status_slots`` holds a random permutation of the 131,072
entries of a list (drawn once, here, with PostgreSQL's ``random()``); the n-th certificate gets
entry ``slots[n % 131072]`` of list ``n // 131072``. The sequence still counts, so indexes are
unique without retries or locks, and the issue path's COPY fills them through the column default.
Existing certificates are moved through the same permutation.

Revision ID: asm_0004
Revises: asm_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "asm_0004"
down_revision = "asm_0003"
branch_labels = None
depends_on = None
SCHEMA = "assessment"
SEQ = f"{SCHEMA}.certificate_status_index_seq"
ENTRIES = 131_072  # entries per status list (the spec's minimum)
FUNCTION = f"{SCHEMA}.next_status_index"


def upgrade() -> None:
    op.create_table(
        "status_slots",
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("slot", sa.Integer(), nullable=False, unique=True),
        schema=SCHEMA,
    )
    op.execute(f"""
        INSERT INTO {SCHEMA}.status_slots (position, slot)
        SELECT (row_number() OVER (ORDER BY random()) - 1)::int, g
        FROM generate_series(0, {ENTRIES - 1}) g""")
    op.execute(f"""
        CREATE FUNCTION {FUNCTION}() RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
        DECLARE n bigint := nextval('{SEQ}');
        BEGIN
            RETURN (n / {ENTRIES}) * {ENTRIES}
                + (SELECT slot FROM {SCHEMA}.status_slots WHERE position = n % {ENTRIES});
        END $$""")
    # Two steps through negative values: a one-step permutation would trip the unique constraint.
    op.execute(f"""
        UPDATE {SCHEMA}.certificates c
        SET status_index = -1 - ((c.status_index / {ENTRIES}) * {ENTRIES} + s.slot)
        FROM {SCHEMA}.status_slots s WHERE s.position = c.status_index % {ENTRIES}""")
    op.execute(f"UPDATE {SCHEMA}.certificates SET status_index = -1 - status_index")
    op.alter_column("certificates", "status_index", server_default=sa.text(f"{FUNCTION}()"), schema=SCHEMA)


def downgrade() -> None:
    op.alter_column("certificates", "status_index", server_default=sa.text(f"nextval('{SEQ}')"), schema=SCHEMA)
    op.execute(f"""
        UPDATE {SCHEMA}.certificates c
        SET status_index = -1 - ((c.status_index / {ENTRIES}) * {ENTRIES} + s.position)
        FROM {SCHEMA}.status_slots s WHERE s.slot = c.status_index % {ENTRIES}""")
    op.execute(f"UPDATE {SCHEMA}.certificates SET status_index = -1 - status_index")
    op.execute(f"DROP FUNCTION {FUNCTION}()")
    op.drop_table("status_slots", schema=SCHEMA)
