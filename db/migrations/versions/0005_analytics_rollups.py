"""Per-day analytics rollups of closed UTC days; feedback on an older answer forgets its day

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rolled-up days (of the answer, not of the rating) that a feedback change touches are forgotten,
# so the next page view computes them again. The advisory lock is rag/analytics/rollups.py's: a day
# being computed right now is not marked done behind this change's back. Today is never rolled up.
FUNCTION = """
CREATE FUNCTION rollups_forget_rated_days() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    demo boolean;
BEGIN
    FOR demo IN
        SELECT DISTINCT a.is_demo FROM changed c JOIN answers a ON a.id = c.answer_id
        WHERE a.created_at < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    LOOP
        PERFORM pg_advisory_xact_lock(27491, demo::int);
        DELETE FROM rollup_days r USING (
            SELECT DISTINCT (a.created_at AT TIME ZONE 'UTC')::date AS day
            FROM changed c JOIN answers a ON a.id = c.answer_id WHERE a.is_demo = demo
        ) d
        WHERE r.is_demo = demo AND r.day = d.day;
    END LOOP;
    RETURN NULL;
END $$
"""
EVENTS = {"insert": "NEW", "update": "NEW", "delete": "OLD"}


def _key() -> list[sa.Column[object]]:
    return [sa.Column("day", sa.Date(), nullable=False), sa.Column("is_demo", sa.Boolean(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "rollup_days",
        *_key(),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("day", "is_demo"),
    )
    op.create_table(
        "rollup_answers",
        *_key(),
        sa.Column("questions", sa.BigInteger(), nullable=False),
        sa.Column("answered", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(), nullable=True),
        sa.Column("cost_per_answer", sa.Float(), nullable=True),
        sa.Column("unpriced_answers", sa.BigInteger(), nullable=False),
        sa.Column("thumbs_up", sa.BigInteger(), nullable=False),
        sa.Column("thumbs_down", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "is_demo"),
    )
    op.create_table(
        "rollup_conversations",
        *_key(),
        sa.Column("gap_days", sa.Integer(), nullable=False),
        sa.Column("conversations", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "is_demo", "gap_days"),
    )
    op.create_table(
        "rollup_latency",
        *_key(),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("p50", sa.Float(), nullable=False),
        sa.Column("p95", sa.Float(), nullable=False),
        sa.Column("p99", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "is_demo", "stage"),
    )
    op.create_table(
        "rollup_latency_buckets",
        *_key(),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("answers", sa.BigInteger(), nullable=False),
        sa.Column("min_ms", sa.Float(), nullable=False),
        sa.Column("max_ms", sa.Float(), nullable=False),
        sa.Column("sum_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "is_demo", "bucket"),
    )
    op.create_table(
        "rollup_slowest",
        *_key(),
        sa.Column("answer_id", sa.BigInteger(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "is_demo", "answer_id"),
    )
    op.create_table(
        "rollup_errors",
        *_key(),
        sa.Column("error_code", sa.String(length=50), nullable=False),
        sa.Column("answers", sa.BigInteger(), nullable=False),
        sa.Column("timeouts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "is_demo", "error_code"),
    )
    op.create_table(
        "rollup_cost",
        *_key(),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(), nullable=True),
        sa.Column("unpriced_calls", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "is_demo", "model", "purpose"),
    )
    op.create_table(
        "rollup_citations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        *_key(),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("document_title", sa.Text(), nullable=False),
        sa.Column("citations", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rollup_citations_demo_day", "rollup_citations", ["is_demo", "day"], unique=False)
    op.execute(FUNCTION)
    for event, table in EVENTS.items():
        op.execute(
            f"CREATE TRIGGER feedback_rollups_{event} AFTER {event.upper()} ON feedback "
            f"REFERENCING {table} TABLE AS changed "
            "FOR EACH STATEMENT EXECUTE FUNCTION rollups_forget_rated_days()"
        )


def downgrade() -> None:
    for event in EVENTS:
        op.execute(f"DROP TRIGGER feedback_rollups_{event} ON feedback")
    op.execute("DROP FUNCTION rollups_forget_rated_days()")
    op.drop_index("ix_rollup_citations_demo_day", table_name="rollup_citations")
    for table in ("citations", "cost", "errors", "slowest", "latency_buckets", "latency", "conversations"):
        op.drop_table(f"rollup_{table}")
    op.drop_table("rollup_answers")
    op.drop_table("rollup_days")
