"""A BEIR corpus mirrored into its own knowledge base: unchanged documents are never re-embedded.

Each corpus document is one document row whose `filename` is its BEIR `_id`, which is how
retrieved documents map back to the ids the relevance judgments use.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Document
from rag.console import Console
from rag.errors import ConfigError
from rag.evaluation.beir import BeirDataset, BeirDocument
from rag.library.documents import NewDocument, store_document
from rag.library.knowledge_bases import KnowledgeBaseRef, open_knowledge_base
from rag.parsing.document import Section
from rag.providers.embedder import timed_embed
from rag.text.chunking import chunk_sections
from rag.usage.calls import CallRecord, record_calls

KIND = "beir"
DOCUMENTS_PER_TRANSACTION = 250
Counter = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class CorpusSync:
    documents: int  # in the knowledge base afterwards
    stored: int  # new or changed: embedded in this run
    skipped: int  # unchanged since an earlier run
    removed: int  # no longer in the corpus
    chunks: int  # embedded in this run
    seconds: float


def eval_knowledge_base_name(folder: Path) -> str:
    return f"eval:{folder.resolve().name}"


def open_eval_console(console: Console, name: str) -> Console:
    """The same console bound to the evaluation's own knowledge base, never the user's."""
    if name == console.settings.knowledge_base:
        raise ConfigError(f"'{name}' is the console's own knowledge base; evaluate in another one")
    return replace(console, kb=open_knowledge_base(console.engine, name, console.embedder))


def content_hash(doc: BeirDocument) -> str:
    # The id is hashed too: two documents with the same text must still be two rows, and
    # (knowledge base, content hash) is unique.
    return hashlib.sha256(f"{doc.id}\n{doc.content}".encode()).hexdigest()


def sync_corpus(console: Console, dataset: BeirDataset, *, progress: Counter | None = None) -> CorpusSync:
    """Make the knowledge base hold exactly the corpus; embed only what is new or changed."""
    started = time.perf_counter()
    engine, kb = console.engine, console.kb
    existing = _existing(engine, kb)
    wanted = {d.id for d in dataset.documents}
    removed = [name for name in existing if name not in wanted]
    if removed:
        with engine.begin() as conn:
            conn.execute(
                sa.delete(Document).where(Document.knowledge_base_id == kb.id, Document.filename.in_(removed))
            )
    pending = [d for d in dataset.documents if existing.get(d.id) != content_hash(d)]
    skipped = len(dataset.documents) - len(pending)
    report = progress or (lambda _done, _total: None)
    report(skipped, len(dataset.documents))
    chunks = 0
    for start in range(0, len(pending), DOCUMENTS_PER_TRANSACTION):
        chunks += _store_group(console, pending[start : start + DOCUMENTS_PER_TRANSACTION])
        report(skipped + min(start + DOCUMENTS_PER_TRANSACTION, len(pending)), len(dataset.documents))
    return CorpusSync(
        len(dataset.documents), len(pending), skipped, len(removed), chunks, time.perf_counter() - started
    )


def document_ids(engine: Engine, kb: KnowledgeBaseRef) -> dict[int, str]:
    """documents.id -> the corpus `_id` it was stored from."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Document.id, Document.filename).where(Document.knowledge_base_id == kb.id)
        )
        return {r.id: r.filename for r in rows}


def _existing(engine: Engine, kb: KnowledgeBaseRef) -> dict[str, str]:
    """Corpus `_id` -> content hash of what is stored; refuses a knowledge base of uploads."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Document.filename, Document.content_hash, Document.kind).where(
                Document.knowledge_base_id == kb.id
            )
        ).all()
    if any(r.kind != KIND for r in rows):
        raise ConfigError(
            f"The knowledge base '{kb.name}' holds uploaded documents, not a BEIR corpus; "
            "evaluate in another one"
        )
    return {r.filename: r.content_hash for r in rows}


def _store_group(console: Console, docs: list[BeirDocument]) -> int:
    """Chunk, embed (batches span documents) and store `docs` in one transaction."""
    settings = console.settings
    chunked = [
        chunk_sections([Section(d.content)], max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap)
        for d in docs
    ]
    calls: list[CallRecord] = []
    try:
        vectors = _embed(console, [c.text for chunks in chunked for c in chunks], calls)
    finally:
        record_calls(console.engine, calls, prices=settings.prices, user=settings.default_user)
    offset = 0
    with console.engine.begin() as conn:
        for doc, chunks in zip(docs, chunked, strict=True):
            store_document(
                conn,
                console.kb,
                _new_document(doc, settings.default_user),
                chunks,
                vectors[offset : offset + len(chunks)],
            )
            offset += len(chunks)
    return offset


def _embed(console: Console, texts: list[str], calls: list[CallRecord]) -> npt.NDArray[np.float32]:
    size = console.settings.embedding_batch_size
    parts = [
        timed_embed(console.embedder, texts[i : i + size], purpose="eval_embedding", calls=calls).vectors
        for i in range(0, len(texts), size)
    ]
    return np.vstack(parts) if parts else np.zeros((0, console.embedder.dimensions), dtype=np.float32)


def _new_document(doc: BeirDocument, user: str) -> NewDocument:
    return NewDocument(
        title=doc.title or doc.id,
        filename=doc.id,
        kind=KIND,
        content_hash=content_hash(doc),
        size_bytes=len(doc.content.encode()),
        flags=[],
        uploaded_by=user,
    )
