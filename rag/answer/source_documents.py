"""What an agent needs to check an answer's sources: each document's facts, its text, its file.

Read by primary key for the few documents one answer cites. A source logged with an answer keeps
only a snippet; its whole passage is read back from its chunk while the chunk exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Chunk, Document
from rag.ingest.stored_files import load_file
from rag.retrieval import format_location


@dataclass(frozen=True)
class SourceDocument:
    id: int
    title: str
    filename: str
    kind: str  # pdf, docx, markdown, html, text, csv
    version: int
    uploaded_by: str
    owner: str
    updated_at: datetime  # the latest version's
    content_hash: str


@dataclass(frozen=True)
class DocumentChunk:
    id: int
    position: int
    text: str
    page_start: int | None
    location: str  # "p. 3 · Refunds", as a source's location reads


def source_documents(engine: Engine, document_ids: Iterable[int]) -> dict[int, SourceDocument]:
    """The documents (still in the library) of these ids, by id."""
    ids = sorted({i for i in document_ids if i})
    if not ids:
        return {}
    columns = [getattr(Document, name) for name in SourceDocument.__dataclass_fields__]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(Document.id.in_(ids))).mappings()
        return {row["id"]: SourceDocument(**row) for row in rows}


def chunk_texts(engine: Engine, chunk_ids: Iterable[int]) -> dict[int, str]:
    """The whole text of these chunks (those still in the library), by id."""
    ids = sorted({i for i in chunk_ids if i})
    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Chunk.id, Chunk.text).where(Chunk.id.in_(ids)))
        return {row.id: row.text for row in rows}


def document_chunks(engine: Engine, document_id: int) -> list[DocumentChunk]:
    """All of a document's text, chunk by chunk in reading order (chunks overlap a little)."""
    query = (
        sa.select(Chunk.id, Chunk.position, Chunk.text, Chunk.page_start, Chunk.page_end, Chunk.heading)
        .where(Chunk.document_id == document_id)
        .order_by(Chunk.position)
    )
    with engine.connect() as conn:
        return [
            DocumentChunk(
                r.id, r.position, r.text, r.page_start, format_location(r.page_start, r.page_end, r.heading)
            )
            for r in conn.execute(query)
        ]


def original_file(engine: Engine, content_hash: str) -> bytes | None:
    """The uploaded bytes, while they are still kept (stored files are released after ingestion)."""
    return load_file(engine, content_hash)
