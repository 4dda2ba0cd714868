"""Upload pipeline: check, parse, chunk, embed in batches, store in one transaction, log.

Every file ends as ingested, replaced (a new version of a file with the same name), duplicate
(the same bytes are already there) or rejected/failed with a reason, and nothing half-stored.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import sqlalchemy.exc
from sqlalchemy.engine import Connection

from rag.console import Console
from rag.errors import ModelError, RejectedFile
from rag.ingest.embedding_batches import embed_in_batches, ingestion_policy, resume_key, shared_limiter
from rag.ingest.events import record_ingestion_event
from rag.library.content_lock import content_lock
from rag.library.documents import NewDocument, find_by_hash, store_document
from rag.parsing.html import HIDDEN_TEXT_REMOVED
from rag.parsing.sandbox import ParseLimits, parse_isolated
from rag.text.chunking import Chunk, chunk_sections
from rag.usage.calls import CallRecord, record_calls

Progress = Callable[[float, str], None]
_DATABASE_FAILED = (
    "The database did not finish storing the file (connection lost or timed out); "
    "nothing was stored, so it can simply be uploaded again."
)


@dataclass(frozen=True)
class IngestResult:
    filename: str
    outcome: str  # ingested, replaced, duplicate, rejected, failed
    message: str
    document_id: int | None = None
    chunk_count: int = 0
    token_count: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome in ("ingested", "replaced", "duplicate")


def ingest_file(
    console: Console, filename: str, data: bytes, *, user: str, progress: Progress | None = None
) -> IngestResult:
    started = time.perf_counter()
    calls: list[CallRecord] = []
    report = progress or (lambda _fraction, _stage: None)
    content_hash = hashlib.sha256(data).hexdigest()
    try:
        # Held from the duplicate check to the commit: the same bytes are embedded and stored once.
        with content_lock(console.engine, console.kb.id, content_hash) as conn:
            result = _ingest(console, conn, Path(filename).name, data, content_hash, user, report, calls)
    except RejectedFile as exc:
        result = IngestResult(Path(filename).name, "rejected", str(exc))
    except ModelError as exc:
        result = IngestResult(Path(filename).name, "failed", f"Embedding failed: {exc}")
    except sqlalchemy.exc.OperationalError:
        # The connection was lost (server restart, killed session) or a statement timed out:
        # the transaction rolled back, so nothing is stored and the same upload can be retried.
        result = IngestResult(Path(filename).name, "failed", _DATABASE_FAILED)
    record_calls(
        console.engine, calls, prices=console.settings.prices, user=user, document_id=result.document_id
    )
    record_ingestion_event(
        console.engine,
        console.kb,
        filename=result.filename,
        content_hash=content_hash if data else None,
        size_bytes=len(data),
        outcome=result.outcome,
        reason=None if result.outcome in ("ingested", "replaced") else result.message,
        document_id=result.document_id,
        chunk_count=result.chunk_count,
        token_count=result.token_count,
        duration_ms=(time.perf_counter() - started) * 1000,
        uploaded_by=user,
    )
    report(1.0, result.outcome)
    return result


def _ingest(
    console: Console,
    conn: Connection,
    filename: str,
    data: bytes,
    content_hash: str,
    user: str,
    report: Progress,
    calls: list[CallRecord],
) -> IngestResult:
    settings = console.settings
    if len(data) > settings.max_upload_bytes:
        raise RejectedFile(
            f"The file is {_megabytes(len(data), settings.max_upload_mb)} MB; "
            f"the limit is {settings.max_upload_mb:g} MB."
        )
    with conn.begin():
        existing = find_by_hash(conn, console.kb, content_hash)
    if existing is not None:
        return _duplicate(filename, existing.id, existing.title)
    report(0.02, "parsing")
    limits = ParseLimits(timeout_s=settings.parse_timeout_s, memory_mb=settings.parse_memory_mb)
    parsed = parse_isolated(filename, data, limits=limits)
    chunks = chunk_sections(parsed.sections, max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap)
    if not chunks:
        raise RejectedFile("The file contains no text to index.")
    vectors = _embed_chunks(console, chunks, report, calls)
    report(0.95, "storing")
    doc = NewDocument(
        title=parsed.title,
        filename=filename,
        kind=parsed.kind,
        content_hash=content_hash,
        size_bytes=len(data),
        flags=parsed.flags,
        uploaded_by=user,
    )
    try:
        with conn.begin():
            stored = store_document(conn, console.kb, doc, chunks, vectors)
    except sqlalchemy.exc.IntegrityError:
        # Someone stored the same bytes without the lock (an older app) while we were embedding.
        winner = find_by_hash(console.engine, console.kb, content_hash)
        if winner is None:
            raise
        return _duplicate(filename, winner.id, winner.title)
    tokens = sum(c.token_count for c in chunks)
    outcome = "replaced" if stored.replaced else "ingested"
    message = f"{len(chunks)} chunk{'' if len(chunks) == 1 else 's'}, {tokens:,} tokens"
    if stored.replaced:
        message += f" (version {stored.version} replaces the previous one)"
    if HIDDEN_TEXT_REMOVED in parsed.flags:
        message += "; hidden text (CSS-hidden or invisible elements) was left out"
    return IngestResult(filename, outcome, message, stored.id, len(chunks), tokens)


def _embed_chunks(
    console: Console, chunks: list[Chunk], report: Progress, calls: list[CallRecord]
) -> npt.NDArray[np.float32]:
    total, texts = len(chunks), [c.text for c in chunks]
    policy = ingestion_policy(console.settings, console.embedder)
    # The same upload retried after a failure starts at the batch that failed.
    key = resume_key(console.embedder, policy, texts)
    finished = console.resume_cache.take_unfinished(key)
    report(0.05, f"embedding {total} chunks")
    try:
        return embed_in_batches(
            console.embedder,
            texts,
            policy=policy,
            limiter=shared_limiter(console.rate_limiters, console.settings, console.embedder),
            calls=calls,
            on_progress=lambda done: report(0.05 + 0.89 * done / total, f"embedded {done} of {total} chunks"),
            finished=finished,
        )
    except ModelError:
        console.resume_cache.keep_unfinished(key, finished)
        raise


def _duplicate(filename: str, document_id: int, title: str) -> IngestResult:
    return IngestResult(
        filename, "duplicate", f"Same content as '{title}', already in the library.", document_id
    )


def _megabytes(size: int, limit_mb: float) -> str:
    """The size in MB, with as many decimals as it takes to show it is over the limit."""
    for decimals in (1, 2, 3):
        shown = f"{size / 1_048_576:.{decimals}f}"
        if float(shown) > limit_mb:
            return shown
    return f"{size / 1_048_576:.6f}"
