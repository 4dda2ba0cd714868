"""Indexes for per-user limits: a user's recent answers and model calls

Revision ID: 0008_hardening
Revises: 0007_answer_cache
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_hardening"
down_revision: str | None = "0007_answer_cache"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every question checks its asker's last minute of answers and last day of model calls.
    op.create_index("ix_answers_user_created_at", "answers", ["user_name", "created_at"])
    op.create_index("ix_model_calls_user_created_at", "model_calls", ["user_name", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_model_calls_user_created_at", table_name="model_calls")
    op.drop_index("ix_answers_user_created_at", table_name="answers")
