"""A named knowledge base, bound to the embedding model that built it, with its vector index.

The index (rag/library/indexes.py) is created when the knowledge base is first opened; one built
when the default index type was another keeps serving, and queries follow its type.
Where the server has pg_textsearch it also gets a bm25 index (rag/library/keyword_index.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.models import Document, KnowledgeBase
from rag.errors import EmbeddingModelMismatch
from rag.library.indexes import (
    INDEX_TYPE,
    IndexType,
    built_index_type,
    drop_vector_index,
    ensure_vector_index,
)
from rag.library.keyword_index import ensure_keyword_index
from rag.providers.embedder import Embedder


@dataclass(frozen=True)
class KnowledgeBaseRef:
    id: int
    name: str
    embedding_model: str
    dimensions: int
    index_type: IndexType = INDEX_TYPE
    # Its pg_textsearch bm25 index, which the keyword leg ranks with; None: the portable BM25.
    keyword_index: str | None = None


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
        return replace(
            kb, index_type=built_index_type(conn, kb_id), keyword_index=ensure_keyword_index(conn, kb_id)
        )


def knowledge_base_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(KnowledgeBase.name).order_by(KnowledgeBase.name)).scalars())


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
    drop_vector_index(conn, kb_id)
    conn.execute(
        sa.update(KnowledgeBase)
        .where(KnowledgeBase.id == kb_id)
        .values(
            embedding_provider=embedder.provider,
            embedding_model=embedder.model,
            embedding_dimensions=embedder.dimensions,
        )
    )
