"""Keep each knowledge base's chunk and lexeme counts, for BM25 without scanning every chunk

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Statement-level triggers with transition tables: one UPDATE per INSERT or DELETE statement,
# however many chunks it touches (ingestion inserts all of a document's chunks at once).
FUNCTION = """
CREATE FUNCTION knowledge_base_text_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE knowledge_bases kb SET chunk_count = kb.chunk_count + d.n, lexeme_count = kb.lexeme_count + d.l
        FROM (SELECT knowledge_base_id, count(*) AS n, sum(length(tsv)) AS l FROM changed GROUP BY 1) d
        WHERE kb.id = d.knowledge_base_id;
    ELSE
        UPDATE knowledge_bases kb SET chunk_count = kb.chunk_count - d.n, lexeme_count = kb.lexeme_count - d.l
        FROM (SELECT knowledge_base_id, count(*) AS n, sum(length(tsv)) AS l FROM changed GROUP BY 1) d
        WHERE kb.id = d.knowledge_base_id;
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.add_column(
        "knowledge_bases", sa.Column("chunk_count", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "knowledge_bases", sa.Column("lexeme_count", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER chunks_stats_insert AFTER INSERT ON chunks REFERENCING NEW TABLE AS changed "
        "FOR EACH STATEMENT EXECUTE FUNCTION knowledge_base_text_stats()"
    )
    op.execute(
        "CREATE TRIGGER chunks_stats_delete AFTER DELETE ON chunks REFERENCING OLD TABLE AS changed "
        "FOR EACH STATEMENT EXECUTE FUNCTION knowledge_base_text_stats()"
    )
    op.execute(
        "UPDATE knowledge_bases kb SET chunk_count = s.n, lexeme_count = s.l FROM "
        "(SELECT knowledge_base_id, count(*) AS n, coalesce(sum(length(tsv)), 0) AS l "
        "FROM chunks GROUP BY 1) s "
        "WHERE kb.id = s.knowledge_base_id"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER chunks_stats_delete ON chunks")
    op.execute("DROP TRIGGER chunks_stats_insert ON chunks")
    op.execute("DROP FUNCTION knowledge_base_text_stats()")
    op.drop_column("knowledge_bases", "lexeme_count")
    op.drop_column("knowledge_bases", "chunk_count")
