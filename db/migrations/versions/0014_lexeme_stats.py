"""Keep each lexeme's document frequency per knowledge base, so BM25 reads it instead of counting

Revision ID: 0014_lexeme_stats
Revises: 0013_answer_confidence
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_lexeme_stats"
down_revision: str | None = "0013_answer_confidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The knowledge base's row is updated first, as before: it serialises concurrent ingests of one
# knowledge base, so the per-lexeme rows below are always locked in one order (and by one writer).
# Lexemes go in sorted too, so that order holds even if that ever changes.
FUNCTION = """
CREATE OR REPLACE FUNCTION knowledge_base_text_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE knowledge_bases kb SET chunk_count = kb.chunk_count + d.n, lexeme_count = kb.lexeme_count + d.l
        FROM (SELECT knowledge_base_id, count(*) AS n, sum(length(tsv)) AS l FROM changed GROUP BY 1) d
        WHERE kb.id = d.knowledge_base_id;
        INSERT INTO lexeme_stats AS s (knowledge_base_id, lexeme, df)
        SELECT c.knowledge_base_id, u.lexeme, count(*) FROM changed c, unnest(c.tsv) AS u
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (knowledge_base_id, lexeme) DO UPDATE SET df = s.df + excluded.df;
    ELSE
        UPDATE knowledge_bases kb SET chunk_count = kb.chunk_count - d.n, lexeme_count = kb.lexeme_count - d.l
        FROM (SELECT knowledge_base_id, count(*) AS n, sum(length(tsv)) AS l FROM changed GROUP BY 1) d
        WHERE kb.id = d.knowledge_base_id;
        -- A lexeme no chunk holds any more leaves, so the table stays the size of the vocabulary.
        DELETE FROM lexeme_stats s
        USING (SELECT c.knowledge_base_id, u.lexeme, count(*) AS n FROM changed c, unnest(c.tsv) AS u
               GROUP BY 1, 2) d
        WHERE s.knowledge_base_id = d.knowledge_base_id AND s.lexeme = d.lexeme AND s.df <= d.n;
        UPDATE lexeme_stats s SET df = s.df - d.n
        FROM (SELECT c.knowledge_base_id, u.lexeme, count(*) AS n FROM changed c, unnest(c.tsv) AS u
              GROUP BY 1, 2 ORDER BY 1, 2) d
        WHERE s.knowledge_base_id = d.knowledge_base_id AND s.lexeme = d.lexeme;
    END IF;
    RETURN NULL;
END $$
"""

# Migration 0002's body, restored on downgrade.
PREVIOUS_FUNCTION = """
CREATE OR REPLACE FUNCTION knowledge_base_text_stats() RETURNS trigger LANGUAGE plpgsql AS $$
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
    op.create_table(
        "lexeme_stats",
        sa.Column("knowledge_base_id", sa.Integer(), nullable=False),
        sa.Column("lexeme", sa.Text(), nullable=False),
        sa.Column("df", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["knowledge_base_id"], ["knowledge_bases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("knowledge_base_id", "lexeme"),
    )
    op.execute(FUNCTION)
    op.execute(
        "INSERT INTO lexeme_stats (knowledge_base_id, lexeme, df) "
        "SELECT c.knowledge_base_id, u.lexeme, count(*) FROM chunks c, unnest(c.tsv) AS u GROUP BY 1, 2"
    )


def downgrade() -> None:
    op.execute(PREVIOUS_FUNCTION)
    op.drop_table("lexeme_stats")
