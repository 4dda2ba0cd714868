"""A named knowledge base, bound to the embedding model that built it, with its vector index.

All knowledge bases share one `chunks.embedding` column of type `vector` (any dimension). Each
gets a partial HNSW index on `embedding::vector(dims)` restricted to its rows, which is what
pgvector recommends for mixed dimensions; queries use the same expression to hit it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.models import Document, KnowledgeBase
from rag.embedding import Embedder
from rag.errors import EmbeddingModelMismatch


@dataclass(frozen=True)
class KnowledgeBaseRef:
    id: int
    name: str
    embedding_model: str
    dimensions: int


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
        _ensure_vector_index(conn, kb_id, embedder.dimensions)
    return KnowledgeBaseRef(kb_id, name, embedder.model, embedder.dimensions)


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
    conn.execute(sa.text(f"DROP INDEX IF EXISTS {_index_name(kb_id)}"))
    conn.execute(
        sa.update(KnowledgeBase)
        .where(KnowledgeBase.id == kb_id)
        .values(
            embedding_provider=embedder.provider,
            embedding_model=embedder.model,
            embedding_dimensions=embedder.dimensions,
        )
    )


def _ensure_vector_index(conn: Connection, kb_id: int, dimensions: int) -> None:
    # Identifiers and the dimension are integers we own: safe to format into DDL.
    conn.execute(
        sa.text(
            f"CREATE INDEX IF NOT EXISTS {_index_name(int(kb_id))} ON chunks "
            f"USING hnsw ((embedding::vector({int(dimensions)})) vector_cosine_ops) "
            f"WHERE knowledge_base_id = {int(kb_id)}"
        )
    )


def _index_name(kb_id: int) -> str:
    return f"ix_chunks_embedding_hnsw_kb{int(kb_id)}"
