"""feedback, demo rows, unanswered resolution

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("answer_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("rating IN (-1, 1)", name="ck_feedback_rating"),
        sa.ForeignKeyConstraint(["answer_id"], ["answers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("answer_id", "user_name"),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"], unique=False)
    op.add_column("answers", sa.Column("question_embedding", Vector(), nullable=True))
    op.add_column("answers", sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("answers", sa.Column("resolved_by", sa.Text(), nullable=True))
    op.add_column("answers", sa.Column("resolution_note", sa.Text(), nullable=True))
    op.add_column(
        "answers", sa.Column("is_demo", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.create_index("ix_answers_demo_created_at", "answers", ["is_demo", "created_at"], unique=False)
    op.add_column(
        "model_calls", sa.Column("is_demo", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.create_index("ix_model_calls_demo_created_at", "model_calls", ["is_demo", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_model_calls_demo_created_at", table_name="model_calls")
    op.drop_column("model_calls", "is_demo")
    op.drop_index("ix_answers_demo_created_at", table_name="answers")
    op.drop_column("answers", "is_demo")
    op.drop_column("answers", "resolution_note")
    op.drop_column("answers", "resolved_by")
    op.drop_column("answers", "resolved_at")
    op.drop_column("answers", "question_embedding")
    op.drop_index("ix_feedback_created_at", table_name="feedback")
    op.drop_table("feedback")
