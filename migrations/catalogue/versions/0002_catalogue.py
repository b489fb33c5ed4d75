"""catalogue: groups, work types, aliases, industries, editions and entries, signals, supply, rules, proposals

Revision ID: cat_0002
Revises: cat_0001
"""

import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "cat_0002"
down_revision = "cat_0001"
branch_labels = None
depends_on = None
S = "catalogue"

# The documented default weights and thresholds (docs/catalogue.md); data, never code constants.
DEFAULT_RULE = {
    "source": "default",
    "valid_from": "2024-01-01",
    "weights": {
        "vacancy_ratio": "0.35",
        "fill_rate": "0.25",
        "wage_growth": "0.20",
        "certificate_supply": "0.20",
    },
    "caps": {"vacancy_ratio": "2.0", "wage_growth": "0.10", "certificates_per_vacancy": "1.0"},
    "thresholds": {"add_at": "0.60", "remove_below": "0.35"},
    "note": "Default indicators after Australia's OSL and the UK MAC, plus certificate supply.",
}


def _now() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.add_column("occupations", sa.Column("introduced_on", sa.Date(), nullable=True), schema=S)
    op.create_check_constraint(
        "ck_occupations_code_format", "occupations", r"code ~ '^[1-8]-\d{2}-\d{2}-\d{2}$'", schema=S
    )
    # Substring search on names stays an index scan on the full 1,639-occupation list.
    op.execute(f"CREATE INDEX ix_occupations_name_trgm ON {S}.occupations USING gin (name public.gin_trgm_ops)")
    op.execute(f"CREATE INDEX ix_occupations_code_prefix ON {S}.occupations (code varchar_pattern_ops)")

    op.create_table(
        "occupation_groups",
        sa.Column("classification", sa.String(10), primary_key=True),
        sa.Column("code", sa.String(7), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        schema=S,
    )
    op.create_table(
        "work_types",
        sa.Column("classification", sa.String(10), primary_key=True),
        sa.Column("occupation_code", sa.String(11), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        schema=S,
    )
    op.create_table(
        "occupation_aliases",
        sa.Column("old_classification", sa.String(10), primary_key=True),
        sa.Column("old_code", sa.String(11), primary_key=True),
        sa.Column("classification", sa.String(10), nullable=False),
        sa.Column("code", sa.String(11), nullable=False),
        schema=S,
    )
    op.create_index("ix_occupation_aliases_old_code", "occupation_aliases", ["old_code"], schema=S)
    op.create_table(
        "industry_taxonomies",
        sa.Column("version", sa.String(20), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        _now(),
        schema=S,
    )
    op.create_table(
        "industries",
        sa.Column("version", sa.String(20), primary_key=True),
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("group", sa.String(20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.CheckConstraint("\"group\" IN ('3', '6', 'livelihood')", name="ck_industries_group"),
        schema=S,
    )
    _editions()
    _adjustment()


def _editions() -> None:
    op.create_table(
        "editions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("classification", sa.String(10), nullable=False),
        sa.Column("industry_version", sa.String(20), nullable=False),
        sa.Column("based_on", sa.Uuid(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=True),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        _now(),
        sa.CheckConstraint("status IN ('draft', 'published', 'superseded')", name="ck_editions_status"),
        sa.CheckConstraint("status = 'draft' OR effective_from IS NOT NULL", name="ck_editions_published_has_start"),
        sa.CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="ck_editions_range_order"),
        schema=S,
    )
    # Two editions in force on one day is impossible, whatever the code above does.
    op.execute(
        f"ALTER TABLE {S}.editions ADD CONSTRAINT ex_editions_in_force EXCLUDE USING gist "
        "(daterange(effective_from, effective_to, '[]') WITH &&) WHERE (status <> 'draft')"
    )
    op.create_table(
        "edition_entries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("edition_id", sa.Uuid(), sa.ForeignKey(f"{S}.editions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("occupation_code", sa.String(11), nullable=False),
        sa.Column("work_type", sa.String(100), nullable=True),
        sa.Column("min_level", sa.Integer(), nullable=False),
        sa.Column("industries", pg.ARRAY(sa.String(40)), nullable=False),
        sa.Column("shortage_level", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("review_by", sa.Date(), nullable=True),
        sa.CheckConstraint("min_level BETWEEN 1 AND 5", name="ck_edition_entries_min_level"),
        sa.CheckConstraint("shortage_level BETWEEN 1 AND 3", name="ck_edition_entries_shortage_level"),
        schema=S,
    )
    op.create_index("ix_edition_entries_edition_id", "edition_entries", ["edition_id"], schema=S)
    op.execute(
        f"CREATE UNIQUE INDEX uq_edition_entries_key ON {S}.edition_entries "
        "(edition_id, occupation_code, coalesce(work_type, ''))"
    )
    op.execute(f"CREATE INDEX ix_edition_entries_code ON {S}.edition_entries (occupation_code, edition_id)")
    # A published edition is immutable: the database refuses entry changes outside drafts too.
    op.execute(f"""
CREATE FUNCTION {S}.entries_only_in_drafts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE st text;
BEGIN
  SELECT status INTO st FROM {S}.editions WHERE id = COALESCE(NEW.edition_id, OLD.edition_id);
  IF st IS DISTINCT FROM 'draft' THEN
    RAISE EXCEPTION 'edition % is %, its entries are immutable', COALESCE(NEW.edition_id, OLD.edition_id), st
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN COALESCE(NEW, OLD);
END $$""")
    op.execute(
        f"CREATE TRIGGER tr_entries_only_in_drafts BEFORE INSERT OR UPDATE OR DELETE ON {S}.edition_entries "
        f"FOR EACH ROW EXECUTE FUNCTION {S}.entries_only_in_drafts()"
    )


def _adjustment() -> None:
    op.create_table(
        "signals",
        sa.Column("occupation_code", sa.String(11), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("vacancies", sa.Integer(), nullable=False),
        sa.Column("job_seekers", sa.Integer(), nullable=False),
        sa.Column("median_wage", sa.Numeric(12, 2), nullable=False),
        sa.Column("wage_growth", sa.Numeric(7, 4), nullable=False),
        sa.Column("fill_rate", sa.Numeric(5, 4), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("vacancies >= 0 AND job_seekers >= 0", name="ck_signals_counts"),
        sa.CheckConstraint("fill_rate BETWEEN 0 AND 1", name="ck_signals_fill_rate"),
        schema=S,
    )
    op.create_index("ix_signals_period", "signals", ["period"], schema=S)
    op.create_table(
        "certificate_supply",
        sa.Column("occupation_code", sa.String(11), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("level", sa.Integer(), primary_key=True),
        sa.Column("issued", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("revoked", sa.Integer(), nullable=False, server_default="0"),
        schema=S,
    )
    op.create_table(
        "feed_cursors",
        sa.Column("feed", sa.String(40), primary_key=True),
        sa.Column("cursor", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_table(
        "applied_feed_events",
        sa.Column("feed", sa.String(40), primary_key=True),
        sa.Column("event_id", sa.BigInteger(), primary_key=True),
        schema=S,
    )
    rules = op.create_table(
        "recommendation_rules",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("weights", pg.JSONB(), nullable=False),
        sa.Column("caps", pg.JSONB(), nullable=False),
        sa.Column("thresholds", pg.JSONB(), nullable=False),
        sa.Column("note", sa.String(2000), nullable=False, server_default=""),
        _now(),
        schema=S,
    )
    op.execute(
        rules.insert().values(
            source=DEFAULT_RULE["source"],
            valid_from=datetime.date.fromisoformat(DEFAULT_RULE["valid_from"]),
            weights=DEFAULT_RULE["weights"],
            caps=DEFAULT_RULE["caps"],
            thresholds=DEFAULT_RULE["thresholds"],
            note=DEFAULT_RULE["note"],
        )
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("occupation_code", sa.String(11), nullable=False),
        sa.Column("work_type", sa.String(100), nullable=True),
        sa.Column("changes", pg.JSONB(), nullable=False),
        sa.Column("rationale", sa.String(4000), nullable=False),
        sa.Column("period", sa.String(7), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(2000), nullable=True),
        sa.Column("applied_to", sa.Uuid(), nullable=True),
        sa.CheckConstraint("action IN ('add', 'remove', 'change')", name="ck_proposals_action"),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="ck_proposals_status"),
        schema=S,
    )


def downgrade() -> None:
    for table in (
        "proposals",
        "recommendation_rules",
        "applied_feed_events",
        "feed_cursors",
        "certificate_supply",
        "signals",
    ):
        op.drop_table(table, schema=S)
    op.execute(f"DROP TRIGGER tr_entries_only_in_drafts ON {S}.edition_entries")
    op.execute(f"DROP FUNCTION {S}.entries_only_in_drafts()")
    for table in (
        "edition_entries",
        "editions",
        "industries",
        "industry_taxonomies",
        "occupation_aliases",
        "work_types",
        "occupation_groups",
    ):
        op.drop_table(table, schema=S)
    op.execute(f"DROP INDEX {S}.ix_occupations_code_prefix")
    op.execute(f"DROP INDEX {S}.ix_occupations_name_trgm")
    op.drop_constraint("ck_occupations_code_format", "occupations", schema=S, type_="check")
    op.drop_column("occupations", "introduced_on", schema=S)
