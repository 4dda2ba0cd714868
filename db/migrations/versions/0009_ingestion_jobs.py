"""Durable ingestion: procrastinate's job queue, the files waiting for it, what people see of
each job, and the embedding batches a job has already paid for

Revision ID: 0009_ingestion_jobs
Revises: 0008_hardening
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects import postgresql

revision: str = "0009_ingestion_jobs"
down_revision: str | None = "0008_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "state IN ('queued', 'parsing', 'embedding', 'storing')"


def upgrade() -> None:
    # procrastinate's own tables, functions and triggers, as the pinned release ships them
    # (requirements.txt). Upgrading procrastinate means a new migration that runs its migration
    # scripts (procrastinate/sql/migrations) from the pinned version to the new one.
    op.get_bind().exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
    op.add_column("documents", sa.Column("source", sa.Text(), nullable=True))
    op.create_table(
        "stored_files",
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "ingestion_jobs",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "knowledge_base_id",
            sa.Integer(),
            sa.ForeignKey("knowledge_bases.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("uploaded_by", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), server_default=sa.text("'queued'"), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("batches_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("batches_total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("chunk_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("token_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "document_id", sa.Integer(), sa.ForeignKey("documents.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("queue_job_id", sa.BigInteger(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_ingestion_jobs_kb_created_at", "ingestion_jobs", ["knowledge_base_id", "created_at"])
    op.create_index("ix_ingestion_jobs_active", "ingestion_jobs", ["state"], postgresql_where=sa.text(ACTIVE))
    op.create_table(
        "embedded_batches",
        sa.Column("resume_key", sa.String(64), primary_key=True),
        sa.Column("batch", sa.Integer(), primary_key=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("vectors", sa.LargeBinary(), nullable=False),
        sa.Column(
            "call_ids", postgresql.ARRAY(sa.BigInteger()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("embedded_batches")
    op.drop_table("ingestion_jobs")
    op.drop_table("stored_files")
    op.drop_column("documents", "source")
    # procrastinate's objects are left in place: dropping them would lose queued jobs.
