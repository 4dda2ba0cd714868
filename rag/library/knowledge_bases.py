"""A named knowledge base, bound to the embedding model that built it, with its vector index.

All knowledge bases share one `chunks.embedding` column of type `vector` (any dimension). Each
gets a partial HNSW index on `embedding::halfvec(dims)` (older ones: `vector(dims)`) restricted to
its rows, which is what pgvector recommends for mixed dimensions; queries use the same expression
to hit it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.models import Document, KnowledgeBase
from rag.errors import EmbeddingModelMismatch
from rag.providers.embedder import Embedder

# What the HNSW index stores: the vectors as they are ("vector", 4 bytes a dimension) or cast to
# "halfvec" (2 bytes). Queries cast the same way, so they always match the index. New indexes are
# halfvec: bench/retrieval.py found the same recall@10 and latency, SciFact nDCG@10 unchanged, at
# 57 % of the size and build memory (1,116 vs 1,953 MB at 1,000,000 chunks). The table keeps full
# precision; scores are computed from it.
INDEX_TYPES = ("vector", "halfvec")
INDEX_TYPE = "halfvec"


@dataclass(frozen=True)
class KnowledgeBaseRef:
    id: int
    name: str
    embedding_model: str
    dimensions: int
    index_type: str = INDEX_TYPE


def vector_type(kb: KnowledgeBaseRef) -> str:
    """The SQL type the index holds, e.g. `halfvec(384)`; type and dimension are ours, safe in SQL."""
    if kb.index_type not in INDEX_TYPES:
        raise ValueError(f"expected index_type in {INDEX_TYPES}")
    return f"{kb.index_type}({int(kb.dimensions)})"


def indexed_expression(kb: KnowledgeBaseRef) -> str:
    """The expression the knowledge base's HNSW index is built on; queries must repeat it exactly."""
    return f"c.embedding::{vector_type(kb)}"


def open_knowledge_base(engine: Engine, name: str, embedder: Embedder) -> KnowledgeBaseRef:
    """Create the knowledge base on first use; refuse if it holds vectors of another model."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": f"kb:{name}"})
        row = conn.execute(
            sa.select(
                KnowledgeBase.id, KnowledgeBase.embedding_model, KnowledgeBase.embedding_dimensions
            ).where(KnowledgeBase.name == name)
        ).first()
        if row is None:
            kb_id = conn.execute(
                sa.insert(KnowledgeBase)
                .values(
                    name=name,
                    embedding_provider=embedder.provider,
                    embedding_model=embedder.model,
                    embedding_dimensions=embedder.dimensions,
                )
                .returning(KnowledgeBase.id)
            ).scalar_one()
        else:
            kb_id = row.id
            if (row.embedding_model, row.embedding_dimensions) != (embedder.model, embedder.dimensions):
                _rebind_if_empty(
                    conn, kb_id, name, f"{row.embedding_model} ({row.embedding_dimensions}", embedder
                )
        kb = KnowledgeBaseRef(kb_id, name, embedder.model, embedder.dimensions)
        ensure_vector_index(conn, kb)
        # An index built when the default type was another keeps serving: queries follow it.
        return replace(kb, index_type=_built_index_type(conn, kb))


def _built_index_type(conn: Connection, kb: KnowledgeBaseRef) -> str:
    definition = conn.execute(
        sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": index_name(kb.id)}
    ).scalar_one()
    return "halfvec" if "halfvec_cosine_ops" in definition else "vector"


def _rebind_if_empty(conn: Connection, kb_id: int, name: str, built_with: str, embedder: Embedder) -> None:
    documents = conn.execute(
        sa.select(sa.func.count()).select_from(Document).where(Document.knowledge_base_id == kb_id)
    ).scalar_one()
    if documents:
        raise EmbeddingModelMismatch(
            f"The knowledge base '{name}' was built with the embedding model {built_with} "
            f"dimensions), but the console is configured for {embedder.model} "
            f"({embedder.dimensions} dimensions). Vectors of two models cannot be mixed: set "
            f"EMBEDDING_MODEL back, or use another knowledge base (KNOWLEDGE_BASE=...)."
        )
    conn.execute(sa.text(f"DROP INDEX IF EXISTS {index_name(kb_id)}"))
    conn.execute(
        sa.update(KnowledgeBase)
        .where(KnowledgeBase.id == kb_id)
        .values(
            embedding_provider=embedder.provider,
            embedding_model=embedder.model,
            embedding_dimensions=embedder.dimensions,
        )
    )


def ensure_vector_index(conn: Connection, kb: KnowledgeBaseRef) -> None:
    """Create the knowledge base's partial HNSW index (cosine) if it does not exist."""
    # Identifiers and the dimension are integers we own, the type one of ours: safe in DDL.
    conn.execute(
        sa.text(
            f"CREATE INDEX IF NOT EXISTS {index_name(kb.id)} ON chunks USING hnsw "
            f"((embedding::{vector_type(kb)}) {kb.index_type}_cosine_ops) "
            f"WHERE knowledge_base_id = {int(kb.id)}"
        )
    )


def index_name(kb_id: int) -> str:
    return f"ix_chunks_embedding_hnsw_kb{int(kb_id)}"
