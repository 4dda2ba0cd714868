"""One document per (knowledge base, file name): repair duplicates, then make the name unique

Two uploads of one name with different bytes at the same moment could both find no document and
insert two version 1s; a later upload then replaced only one of them. The newest of such rows is
kept, as the upload that would have replaced the others, with the version after theirs; the others
and their chunks go, and what pointed at them (events, jobs, sources, model calls) points at it.

Revision ID: 0015_current_version_unique
Revises: 0014_lexeme_stats
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_current_version_unique"
down_revision: str | None = "0014_lexeme_stats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each duplicate row and the row kept in its place: the newest of its (knowledge base, name).
DUPLICATES = """
CREATE TEMPORARY TABLE document_duplicates AS
SELECT id AS duplicate_id, kept_id FROM (
    SELECT id, first_value(id) OVER (
        PARTITION BY knowledge_base_id, filename ORDER BY updated_at DESC, id DESC
    ) AS kept_id
    FROM documents
) ranked
WHERE id <> kept_id
"""

# The kept row replaced the others, so its version comes after theirs.
RENUMBER = """
UPDATE documents d SET version = GREATEST(d.version, o.version + 1)
FROM (
    SELECT x.kept_id, max(dup.version) AS version
    FROM document_duplicates x JOIN documents dup ON dup.id = x.duplicate_id
    GROUP BY x.kept_id
) o
WHERE d.id = o.kept_id
"""

REFERENCES = ("ingestion_events", "ingestion_jobs", "answer_sources", "model_calls")


def upgrade() -> None:
    op.execute(DUPLICATES)
    op.execute(RENUMBER)
    for table in REFERENCES:
        op.execute(
            f"UPDATE {table} t SET document_id = x.kept_id FROM document_duplicates x "
            "WHERE t.document_id = x.duplicate_id"
        )
    # Their chunks go by cascade; the chunk triggers keep the knowledge base's counts.
    op.execute("DELETE FROM documents d USING document_duplicates x WHERE d.id = x.duplicate_id")
    op.execute("DROP TABLE document_duplicates")
    op.drop_index("ix_documents_kb_filename", table_name="documents")
    op.create_index("uq_documents_kb_filename", "documents", ["knowledge_base_id", "filename"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_documents_kb_filename", table_name="documents")
    op.create_index("ix_documents_kb_filename", "documents", ["knowledge_base_id", "filename"], unique=False)
