"""Sessions in PostgreSQL, forced password changes, sign-in failures by client address; answers
logged from their start (state, kind), the stages of their time, and estimated token counts

Revision ID: 0010_sessions_answers
Revises: 0009_ingestion_jobs
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_sessions_answers"
down_revision: str | None = "0009_ingestion_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FIGURES = "kind = 'question' AND state <> 'in_progress'"

# An answer of a closed (rolled-up) day that finishes after the day closed, or is closed by the
# sweep, makes that day's rollups stale: forget the day (it is computed again on its next view).
FUNCTION = """
CREATE FUNCTION rollups_forget_finished_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(27491, NEW.is_demo::int);
    DELETE FROM rollup_days
    WHERE is_demo = NEW.is_demo AND day = (NEW.created_at AT TIME ZONE 'UTC')::date;
    RETURN NULL;
END $$
"""
TRIGGER = """
CREATE TRIGGER answers_rollups_finished AFTER UPDATE OF state ON answers
FOR EACH ROW WHEN (OLD.state = 'in_progress' AND NEW.state <> 'in_progress'
                   AND NEW.created_at < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
EXECUTE FUNCTION rollups_forget_finished_days()
"""


def _day_key() -> list[sa.Column[object]]:
    return [sa.Column("day", sa.Date(), nullable=False), sa.Column("is_demo", sa.Boolean(), nullable=False)]


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("must_change_password", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_table(
        "user_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),  # sha256 of the cookie's value
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_address", sa.Text(), nullable=True),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("client_address", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_sign_in_failures_address", "sign_in_failures", ["client_address", "created_at"])

    op.add_column(
        "answers", sa.Column("state", sa.String(20), server_default=sa.text("'done'"), nullable=False)
    )
    op.add_column(
        "answers", sa.Column("kind", sa.String(10), server_default=sa.text("'question'"), nullable=False)
    )
    op.add_column("answers", sa.Column("cache_ms", sa.Float(), nullable=True))
    op.add_column("answers", sa.Column("log_ms", sa.Float(), nullable=True))
    op.add_column("answers", sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "answers",
        sa.Column("in_figures", sa.Boolean(), sa.Computed(IN_FIGURES, persisted=True), nullable=False),
    )
    op.create_check_constraint(
        "ck_answers_state", "answers", "state IN ('in_progress', 'done', 'failed', 'interrupted')"
    )
    op.create_check_constraint("ck_answers_kind", "answers", "kind IN ('question', 'reask')")
    op.create_index(
        "ix_answers_in_progress", "answers", ["created_at"], postgresql_where=sa.text("state = 'in_progress'")
    )
    op.add_column(
        "model_calls",
        sa.Column("usage_estimated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_table(
        "rollup_stage_time",
        *_day_key(),
        sa.Column("answers", sa.BigInteger(), nullable=False),
        sa.Column("embed_ms", sa.Float(), nullable=False),
        sa.Column("cache_ms", sa.Float(), nullable=False),
        sa.Column("retrieve_ms", sa.Float(), nullable=False),
        sa.Column("generate_ms", sa.Float(), nullable=False),
        sa.Column("log_ms", sa.Float(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "is_demo"),
    )
    op.execute(FUNCTION)
    op.execute(TRIGGER)
    # Rollups computed before this migration miss the stage times and counted every answer:
    # forget them all; each day is computed again on its next view.
    op.execute("DELETE FROM rollup_days")


def downgrade() -> None:
    op.execute("DROP TRIGGER answers_rollups_finished ON answers")
    op.execute("DROP FUNCTION rollups_forget_finished_days()")
    op.drop_table("rollup_stage_time")
    op.drop_column("model_calls", "usage_estimated")
    op.drop_index("ix_answers_in_progress", table_name="answers")
    op.drop_constraint("ck_answers_kind", "answers")
    op.drop_constraint("ck_answers_state", "answers")
    for column in ("in_figures", "finished_at", "log_ms", "cache_ms", "kind", "state"):
        op.drop_column("answers", column)
    op.drop_table("sign_in_failures")
    op.drop_table("user_sessions")
    op.drop_column("users", "must_change_password")
