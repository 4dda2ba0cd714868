"""answer cache: entries per knowledge base, user and question; cache hits and savings in the logs

Revision ID: 0007_answer_cache
Revises: 0006_users
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0007_answer_cache"
down_revision: str | None = "0006_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answer_cache",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("knowledge_base_id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("question_key", sa.Text(), nullable=False),
        sa.Column("question_embedding", Vector(), nullable=True),
        sa.Column("answer_id", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("passages", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("cited", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("chunk_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("document_ids", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("document_versions", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=14, scale=8), nullable=True),
        sa.Column("hits", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_hit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["answer_id"], ["answers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["knowledge_base_id"], ["knowledge_bases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("knowledge_base_id", "user_name", "question_key"),
    )
    op.create_index("ix_answer_cache_answer", "answer_cache", ["answer_id"], unique=False)
    op.add_column("answers", sa.Column("saved_usd", sa.Numeric(precision=14, scale=8), nullable=True))
    op.add_column("answers", sa.Column("cached_from", sa.BigInteger(), nullable=True))
    # Rolled-up days from before the cache had no hits: 0 is their true value.
    op.add_column(
        "rollup_answers",
        sa.Column("cache_hits", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("rollup_answers", sa.Column("saved_usd", sa.Numeric(), nullable=True))


def downgrade() -> None:
    op.drop_column("rollup_answers", "saved_usd")
    op.drop_column("rollup_answers", "cache_hits")
    op.drop_column("answers", "cached_from")
    op.drop_column("answers", "saved_usd")
    op.drop_index("ix_answer_cache_answer", table_name="answer_cache")
    op.drop_table("answer_cache")
