"""Documents and their chunks in PostgreSQL: stored whole in one transaction, or not at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.models import Chunk as ChunkRow
from db.models import Document
from rag.auth.audit import record_action
from rag.library.bulk_copy import copy_chunks
from rag.library.knowledge_bases import KnowledgeBaseRef
from rag.text.chunking import Chunk

_NAME_LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))")


@dataclass(frozen=True)
class NewDocument:
    title: str
    filename: str
    kind: str
    content_hash: str
    size_bytes: int
    flags: list[str]
    uploaded_by: str
    source: str | None = None  # the server folder a folder sync read it from


@dataclass(frozen=True)
class StoredDocument:
    id: int
    version: int
    replaced: bool


@dataclass(frozen=True)
class DocumentSummary:
    id: int
    title: str
    filename: str
    kind: str
    version: int
    status: str
    size_bytes: int
    chunk_count: int
    token_count: int
    flags: list[str]
    uploaded_by: str
    created_at: datetime
    updated_at: datetime


def find_by_hash(
    bind: Engine | Connection, kb: KnowledgeBaseRef, content_hash: str
) -> DocumentSummary | None:
    query = _summary_query(kb).where(Document.content_hash == content_hash)
    if isinstance(bind, Connection):
        row = bind.execute(query).first()
    else:
        with bind.connect() as conn:
            row = conn.execute(query).first()
    return DocumentSummary(**row._mapping) if row else None


def store_document(
    conn: Connection,
    kb: KnowledgeBaseRef,
    doc: NewDocument,
    chunks: list[Chunk],
    vectors: npt.NDArray[np.float32],
) -> StoredDocument:
    """Insert (or replace the same-named document with) `doc` and all its chunks on `conn`.

    The caller owns the transaction: if anything fails, nothing of the document remains.
    """
    if len(chunks) != len(vectors):
        raise ValueError("expected one vector per chunk")
    values = {
        "title": doc.title,
        "kind": doc.kind,
        "content_hash": doc.content_hash,
        "size_bytes": doc.size_bytes,
        "chunk_count": len(chunks),
        "token_count": sum(c.token_count for c in chunks),
        "flags": doc.flags,
        "uploaded_by": doc.uploaded_by,
        "source": doc.source,
    }
    # Concurrent uploads of one name wait here in turn, so the second replaces the first instead
    # of both finding no document and inserting two version 1s. Held until the caller commits.
    conn.execute(_NAME_LOCK, {"key": f"document:{kb.id}:{doc.filename}"})
    previous = conn.execute(
        sa.select(Document.id, Document.version)
        .where(Document.knowledge_base_id == kb.id, Document.filename == doc.filename)
        .with_for_update()
    ).first()
    if previous is None:
        doc_id = conn.execute(
            sa.insert(Document)
            .values(knowledge_base_id=kb.id, filename=doc.filename, **values)
            .returning(Document.id)
        ).scalar_one()
        version = 1
    else:
        doc_id, version = previous.id, previous.version + 1
        conn.execute(sa.delete(ChunkRow).where(ChunkRow.document_id == doc_id))
        conn.execute(
            sa.update(Document)
            .where(Document.id == doc_id)
            .values(version=version, updated_at=sa.func.now(), **values)
        )
    if chunks:
        copy_chunks(conn, doc_id, kb.id, chunks, vectors)
    return StoredDocument(doc_id, version, previous is not None)


def list_documents(engine: Engine, kb: KnowledgeBaseRef) -> list[DocumentSummary]:
    with engine.connect() as conn:
        rows = conn.execute(_summary_query(kb).order_by(Document.updated_at.desc(), Document.id.desc()))
        return [DocumentSummary(**r._mapping) for r in rows]


def document_count(engine: Engine, kb: KnowledgeBaseRef) -> int:
    with engine.connect() as conn:
        count: int = conn.execute(
            sa.select(sa.func.count()).select_from(Document).where(Document.knowledge_base_id == kb.id)
        ).scalar_one()
    return count


def delete_document(
    engine: Engine, kb: KnowledgeBaseRef, document_id: int, *, user: str | None = None
) -> bool:
    """Delete a document and (by cascade) its chunks; False if it was not there.

    With a `user`, the deletion is written to the audit log in the same transaction.
    """
    with engine.begin() as conn:
        deleted = conn.execute(
            sa.delete(Document)
            .where(Document.id == document_id, Document.knowledge_base_id == kb.id)
            .returning(Document.title, Document.filename, Document.version)
        ).first()
        if deleted is not None and user is not None:
            record_action(
                conn,
                actor=user,
                action="document_deleted",
                target=deleted.filename,
                title=deleted.title,
                version=deleted.version,
                knowledge_base=kb.name,
            )
    return deleted is not None


def _summary_query(kb: KnowledgeBaseRef) -> sa.Select[*tuple[Any, ...]]:
    return sa.select(
        Document.id,
        Document.title,
        Document.filename,
        Document.kind,
        Document.version,
        Document.status,
        Document.size_bytes,
        Document.chunk_count,
        Document.token_count,
        Document.flags,
        Document.uploaded_by,
        Document.created_at,
        Document.updated_at,
    ).where(Document.knowledge_base_id == kb.id)
