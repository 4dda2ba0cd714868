"""Indexes on the foreign keys that deletes follow (answers -> model_calls, chunks -> sources)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Without them, deleting an answer scans model_calls and deleting a document scans
    # answer_sources once per chunk (ON DELETE SET NULL).
    op.create_index("ix_model_calls_answer", "model_calls", ["answer_id"])
    op.create_index("ix_answer_sources_chunk", "answer_sources", ["chunk_id"])


def downgrade() -> None:
    op.drop_index("ix_answer_sources_chunk", table_name="answer_sources")
    op.drop_index("ix_model_calls_answer", table_name="model_calls")
