"""Per-day rollups of the cost per document and of the questions per person; a closed day's
ingestion calls given their document later forget the day

Revision ID: 0012_rollups_documents_people
Revises: 0011_api_keys
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_rollups_documents_people"
down_revision: str | None = "0011_api_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Embedding calls are logged as they are paid for and get their document when it is stored, which
# can be a later day (an upload across midnight, a paid batch kept for a resumed job): the calls'
# day, if already rolled up, counted them under no document. Forget it (computed again later).
# Deleting a document clears the column too; that is not a change to forget: reads map a document
# that is gone to "no document" themselves.
FUNCTION = """
CREATE FUNCTION rollups_forget_assigned_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(27491, NEW.is_demo::int);
    DELETE FROM rollup_days
    WHERE is_demo = NEW.is_demo AND day = (NEW.created_at AT TIME ZONE 'UTC')::date;
    RETURN NULL;
END $$
"""
TRIGGER = """
CREATE TRIGGER model_calls_rollups_assigned AFTER UPDATE OF document_id ON model_calls
FOR EACH ROW WHEN (OLD.document_id IS NULL AND NEW.document_id IS NOT NULL
                   AND NEW.created_at < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
EXECUTE FUNCTION rollups_forget_assigned_calls()
"""


def _day_key() -> list[sa.Column[object]]:
    return [sa.Column("day", sa.Date(), nullable=False), sa.Column("is_demo", sa.Boolean(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "rollup_document_cost",
        sa.Column("id", sa.BigInteger(), nullable=False),
        *_day_key(),
        sa.Column("part", sa.String(10), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("document_title", sa.Text(), nullable=True),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(), nullable=True),
        sa.Column("unpriced", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rollup_document_cost_demo_day", "rollup_document_cost", ["is_demo", "day"])
    op.create_table(
        "rollup_people",
        *_day_key(),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("questions", sa.BigInteger(), nullable=False),
        sa.Column("answered", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(), nullable=True),
        sa.Column("last_question", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "is_demo", "user_name"),
    )
    op.execute(FUNCTION)
    op.execute(TRIGGER)
    # Days rolled up before this migration lack the new tables' rows: forget them all; a worker
    # (or the next page view) computes them again.
    op.execute("DELETE FROM rollup_days")


def downgrade() -> None:
    op.execute("DROP TRIGGER model_calls_rollups_assigned ON model_calls")
    op.execute("DROP FUNCTION rollups_forget_assigned_calls()")
    op.drop_table("rollup_people")
    op.drop_index("ix_rollup_document_cost_demo_day", table_name="rollup_document_cost")
    op.drop_table("rollup_document_cost")
