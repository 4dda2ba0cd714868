"""Knowledge upkeep: document owners and review dates, gaps (acted-on unanswered groups), the gap
loop's watermark, and curated answers

Revision ID: 0017_owners_gaps_curated
Revises: 0016_setup_code
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0017_owners_gaps_curated"
down_revision: str | None = "0016_setup_code"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every way a document is written (uploads, folder syncs, evaluation corpora) gets an owner and a
# review date without knowing of them: the uploader, and its latest version's day plus the knowledge
# base's review_days. A new version keeps the owner and gets a fresh date.
FUNCTION = """
CREATE OR REPLACE FUNCTION documents_upkeep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.owner := coalesce(NEW.owner, NEW.uploaded_by);
        IF NEW.review_by IS NULL THEN
            NEW.review_by := (NEW.updated_at AT TIME ZONE 'UTC')::date
                + (SELECT review_days FROM knowledge_bases WHERE id = NEW.knowledge_base_id);
        END IF;
    ELSIF NEW.version <> OLD.version THEN
        NEW.owner := OLD.owner;
        NEW.review_by := (NEW.updated_at AT TIME ZONE 'UTC')::date
            + (SELECT review_days FROM knowledge_bases WHERE id = NEW.knowledge_base_id);
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.add_column(
        "knowledge_bases",
        sa.Column("review_days", sa.Integer(), server_default=sa.text("180"), nullable=False),
    )
    op.add_column("documents", sa.Column("owner", sa.Text(), nullable=True))
    op.add_column("documents", sa.Column("review_by", sa.Date(), nullable=True))
    op.add_column("documents", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("documents", sa.Column("reviewed_by", sa.Text(), nullable=True))
    op.execute(
        "UPDATE documents d SET owner = d.uploaded_by, "
        "review_by = (d.updated_at AT TIME ZONE 'UTC')::date + kb.review_days "
        "FROM knowledge_bases kb WHERE kb.id = d.knowledge_base_id"
    )
    op.alter_column("documents", "owner", nullable=False)
    op.alter_column("documents", "review_by", nullable=False)
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER documents_upkeep BEFORE INSERT OR UPDATE OF version ON documents "
        "FOR EACH ROW EXECUTE FUNCTION documents_upkeep()"
    )

    op.create_table(
        "gaps",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("knowledge_base_id", sa.Integer(), nullable=False),
        sa.Column("is_demo", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), server_default=sa.text("'open'"), nullable=False),
        sa.Column("assignee", sa.Text(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_by", sa.Text(), nullable=True),
        sa.Column("answered_document_id", sa.Integer(), nullable=True),
        sa.Column("answered_document_title", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_text", sa.Text(), nullable=True),
        sa.Column("reask_answer_id", sa.BigInteger(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("state IN ('open', 'assigned', 'answered', 'resolved')", name="ck_gaps_state"),
        sa.ForeignKeyConstraint(["answered_document_id"], ["documents.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["knowledge_base_id"], ["knowledge_bases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gaps_kb_state", "gaps", ["knowledge_base_id", "state"])
    op.create_index("ix_gaps_resolved_at", "gaps", ["is_demo", "resolved_at"])
    op.create_table(
        "gap_loop_state",
        sa.Column("knowledge_base_id", sa.Integer(), nullable=False),
        sa.Column("checked_through", sa.DateTime(timezone=True), nullable=True),
        sa.Column("running_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reasked", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_answered", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(["knowledge_base_id"], ["knowledge_bases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("knowledge_base_id"),
    )
    op.create_table(
        "curated_answers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("knowledge_base_id", sa.Integer(), nullable=False),
        sa.Column("is_demo", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("question_key", sa.Text(), nullable=False),
        sa.Column("question_embedding", Vector(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("document_ids", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("document_titles", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("document_hashes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("document_versions", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("source_answer_id", sa.BigInteger(), nullable=True),
        sa.Column("gap_id", sa.BigInteger(), nullable=True),
        sa.Column("hits", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_hit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invalidated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invalidated_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["gap_id"], ["gaps.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["knowledge_base_id"], ["knowledge_bases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_curated_answers_kb", "curated_answers", ["knowledge_base_id", "is_demo"])
    op.add_column("answers", sa.Column("gap_id", sa.BigInteger(), nullable=True))
    op.add_column("answers", sa.Column("curated_answer_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(None, "answers", "gaps", ["gap_id"], ["id"], ondelete="SET NULL")
    op.create_foreign_key(
        None, "answers", "curated_answers", ["curated_answer_id"], ["id"], ondelete="SET NULL"
    )
    op.create_index("ix_answers_gap", "answers", ["gap_id"], postgresql_where=sa.text("gap_id IS NOT NULL"))
    op.create_index(
        "ix_answers_curated",
        "answers",
        ["curated_answer_id"],
        postgresql_where=sa.text("curated_answer_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_answers_curated", table_name="answers")
    op.drop_index("ix_answers_gap", table_name="answers")
    op.drop_column("answers", "curated_answer_id")
    op.drop_column("answers", "gap_id")
    op.drop_table("curated_answers")
    op.drop_table("gap_loop_state")
    op.drop_table("gaps")
    op.execute("DROP TRIGGER documents_upkeep ON documents")
    op.execute("DROP FUNCTION documents_upkeep()")
    for column in ("reviewed_by", "reviewed_at", "review_by", "owner"):
        op.drop_column("documents", column)
    op.drop_column("knowledge_bases", "review_days")
