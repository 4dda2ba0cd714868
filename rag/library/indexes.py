"""Each knowledge base's vector index, declared once: a partial HNSW index (cosine) on its chunks.

All knowledge bases share one `chunks.embedding` column of type `vector` (any dimension). Each
gets an index on `embedding::halfvec(dims)` (older ones: `vector(dims)`) restricted to its rows,
which is what pgvector recommends for mixed dimensions. A query uses the index when it compares
the same expression (`indexed_expression`) with a vector bound as the same type (`vector_type`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from pgvector.sqlalchemy import HALFVEC, VECTOR
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, DropIndex

if TYPE_CHECKING:
    from rag.library.knowledge_bases import KnowledgeBaseRef

# What the HNSW index stores: the vectors as they are ("vector", 4 bytes a dimension) or cast to
# "halfvec" (2 bytes). Queries bind the same type, so they always match the index. New indexes are
# halfvec: bench/retrieval.py found the same recall@10 and latency, SciFact nDCG@10 unchanged, at
# 57 % of the size and build memory (1,116 vs 1,953 MB at 1,000,000 chunks). The table keeps full
# precision; scores are computed from it.
IndexType = Literal["vector", "halfvec"]
INDEX_TYPES: tuple[IndexType, ...] = ("vector", "halfvec")
INDEX_TYPE: IndexType = "halfvec"
# How densely new indexes link the graph (pgvector's m and ef_construction). pgvector's defaults,
# 16 and 64, reach recall@10 0.936 at most (ef_search 1000) at 1,000,000 chunks in bench/retrieval.py;
# 32 and 128 reach 0.955 at ef_search 600 and 0.983 at 1000, for a build 2.3 times as long and an
# index 17 % bigger (1,302 vs 1,116 MB). An existing index keeps the parameters it was built with.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 128


def index_name(kb_id: int) -> str:
    return f"ix_chunks_embedding_hnsw_kb{int(kb_id)}"


def vector_type(kb: KnowledgeBaseRef) -> HALFVEC | VECTOR:
    """The type the index holds, e.g. `HALFVEC(384)`: what it casts the column to, what queries bind."""
    if kb.index_type not in INDEX_TYPES:
        raise ValueError(f"expected index_type in {INDEX_TYPES}")
    return HALFVEC(kb.dimensions) if kb.index_type == "halfvec" else VECTOR(kb.dimensions)


def indexed_expression(kb: KnowledgeBaseRef) -> str:
    """The index's expression over `c.embedding`, as SQL: queries repeat it so the planner uses the index."""
    expression = _indexed(sa.literal_column("c.embedding"), kb)
    return str(expression.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]


def vector_index(
    kb: KnowledgeBaseRef, *, m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION
) -> sa.Index:
    """The knowledge base's index as SQLAlchemy declares it (`ensure_vector_index` creates it)."""
    # pgvector's own ranges, checked here so a bad value fails before a long build starts.
    if not 2 <= m <= 100:
        raise ValueError("expected 2 <= m <= 100")
    if not 2 * m <= ef_construction <= 1000:
        raise ValueError("expected 2 * m <= ef_construction <= 1000")
    # A table of its own: these indexes come and go with knowledge bases, so they stay out of the
    # models' metadata, which Alembic compares with the migrations.
    chunks = sa.Table(
        "chunks",
        sa.MetaData(),
        sa.Column("embedding", VECTOR()),
        sa.Column("knowledge_base_id", sa.Integer()),
    )
    return sa.Index(
        index_name(kb.id),
        _indexed(chunks.c.embedding, kb).label("embedding"),
        postgresql_using="hnsw",
        postgresql_ops={"embedding": f"{kb.index_type}_cosine_ops"},
        postgresql_where=chunks.c.knowledge_base_id == int(kb.id),
        postgresql_with={"m": int(m), "ef_construction": int(ef_construction)},
    )


def ensure_vector_index(
    conn: Connection, kb: KnowledgeBaseRef, *, m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION
) -> None:
    """Create the knowledge base's index unless an index of its name exists (of either type)."""
    # IF NOT EXISTS rather than a check first: two processes may open the knowledge base at once.
    conn.execute(CreateIndex(vector_index(kb, m=m, ef_construction=ef_construction), if_not_exists=True))


def drop_vector_index(conn: Connection, kb_id: int) -> None:
    conn.execute(DropIndex(sa.Index(index_name(kb_id)), if_exists=True))


def built_index_type(conn: Connection, kb_id: int) -> IndexType:
    """The type the knowledge base's existing index holds, which may predate today's `INDEX_TYPE`."""
    definition = conn.execute(
        sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": index_name(kb_id)}
    ).scalar_one()
    return "halfvec" if "halfvec_cosine_ops" in definition else "vector"


def _indexed(embedding: sa.ColumnElement[Any], kb: KnowledgeBaseRef) -> sa.Cast[Any]:
    return sa.cast(embedding, vector_type(kb))
