"""Upload pipeline: check, parse, chunk, embed in batches, store in one transaction, log.

Every file ends as ingested, replaced (a new version of a file with the same name), duplicate
(the same bytes are already there) or rejected/failed with a reason, and nothing half-stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import sqlalchemy.exc
from sqlalchemy.engine import Connection

from rag.console import Console
from rag.errors import ModelError, RejectedFile
from rag.ingest.embedding_batches import embed_in_batches, ingestion_policy, resume_key, shared_limiter
from rag.ingest.events import record_ingestion_event
from rag.ingest.paid_batches import forget_paid_batches, keep_paid_batch, paid_batches
from rag.library.content_lock import content_lock
from rag.library.documents import NewDocument, StoredDocument, find_by_hash, store_document
from rag.parsing.html import HIDDEN_TEXT_REMOVED
from rag.parsing.sandbox import ParseLimits, parse_isolated
from rag.text.chunking import Chunk, chunk_sections
from rag.usage.calls import CallRecord, call_rows, record_calls

Progress = Callable[[float, str], None]  # (fraction done, what is happening), for progress bars
Stage = Literal["parsing", "embedding", "storing"]
StageReport = Callable[[Stage, int, int], None]  # (stage, embedding batches done, of how many)
Connect = Callable[[], AbstractContextManager[Connection]]
OnStored = Callable[[Connection, "IngestResult"], None]  # runs in the transaction that stores it
_DATABASE_FAILED = (
    "The database did not finish storing the file (connection lost or timed out); "
    "nothing was stored, so it can simply be uploaded again."
)


class IngestCancelled(Exception):
    """Raised by a stage report to stop an ingestion that someone cancelled; nothing is stored."""


@dataclass(frozen=True)
class IngestResult:
    filename: str
    outcome: str  # ingested, replaced, duplicate, rejected, failed, cancelled
    message: str
    document_id: int | None = None
    chunk_count: int = 0
    token_count: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome in ("ingested", "replaced", "duplicate")


def ingest_file(
    console: Console,
    filename: str,
    data: bytes,
    *,
    user: str,
    progress: Progress | None = None,
    on_stage: StageReport | None = None,
    source: str | None = None,
    queued: bool = False,
    on_stored: OnStored | None = None,
) -> IngestResult:
    """Check, parse, chunk, embed and store one file; log its model calls and how it ended.

    `queued`: the job queue already runs one ingestion of the same content at a time, so the
    connection is taken only while talking to the database. Otherwise an advisory lock on the
    content, held on one connection for the whole ingestion, does that. `on_stored` records the
    outcome in the same transaction as the document, so both are stored or neither is.
    """
    started = time.perf_counter()
    calls: list[CallRecord] = []
    report = progress or (lambda _fraction, _stage: None)
    stage = on_stage or (lambda _stage, _done, _total: None)
    content_hash = hashlib.sha256(data).hexdigest()
    # An upload is named by its file name alone; a synced file by its path inside its folder.
    name = filename if source is not None else Path(filename).name
    job = _Job(console, name, data, content_hash, user, source, report, stage, calls, on_stored)
    try:
        if queued:
            result = _ingest(job, console.engine.connect)
        else:
            # Held from the duplicate check to the commit: the same bytes are embedded and stored once.
            with content_lock(console.engine, console.kb.id, content_hash) as conn:
                result = _ingest(job, lambda: contextlib.nullcontext(conn))
    except RejectedFile as exc:
        result = IngestResult(name, "rejected", str(exc))
    except ModelError as exc:
        result = IngestResult(name, "failed", f"Embedding failed: {exc}")
    except IngestCancelled:
        result = IngestResult(name, "cancelled", "Cancelled before it was stored; nothing was stored.")
    except sqlalchemy.exc.OperationalError:
        # The connection was lost (server restart, killed session) or a statement timed out:
        # the transaction rolled back, so nothing is stored and the same upload can be retried.
        result = IngestResult(name, "failed", _DATABASE_FAILED)
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


@dataclass(frozen=True)
class _Job:
    """One file's ingestion: what it works on and whom it tells."""

    console: Console
    filename: str
    data: bytes
    content_hash: str
    user: str
    source: str | None
    report: Progress
    stage: StageReport
    calls: list[CallRecord]  # made and not logged yet
    on_stored: OnStored | None


def _ingest(job: _Job, connect: Connect) -> IngestResult:
    console, settings = job.console, job.console.settings
    if len(job.data) > settings.max_upload_bytes:
        raise RejectedFile(
            f"The file is {_megabytes(len(job.data), settings.max_upload_mb)} MB; "
            f"the limit is {settings.max_upload_mb:g} MB."
        )
    with connect() as conn, conn.begin():
        existing = find_by_hash(conn, console.kb, job.content_hash)
    if existing is not None:
        return _duplicate(job.filename, existing.id, existing.title)
    job.report(0.02, "parsing")
    job.stage("parsing", 0, 0)
    limits = ParseLimits(timeout_s=settings.parse_timeout_s, memory_mb=settings.parse_memory_mb)
    parsed = parse_isolated(job.filename, job.data, limits=limits)
    chunks = chunk_sections(parsed.sections, max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap)
    if not chunks:
        raise RejectedFile("The file contains no text to index.")
    vectors, key = _embed_chunks(job, chunks)
    job.report(0.95, "storing")
    job.stage("storing", 0, 0)
    doc = NewDocument(
        title=parsed.title,
        filename=job.filename,
        kind=parsed.kind,
        content_hash=job.content_hash,
        size_bytes=len(job.data),
        flags=parsed.flags,
        uploaded_by=job.user,
        source=job.source,
    )
    try:
        with connect() as conn, conn.begin():
            stored = store_document(conn, console.kb, doc, chunks, vectors)
            forget_paid_batches(conn, key, document_id=stored.id)
            result = _stored_result(job.filename, stored, chunks, parsed.flags)
            if job.on_stored is not None:
                job.on_stored(conn, result)
    except sqlalchemy.exc.IntegrityError:
        # Someone stored the same bytes without the lock (an older app) while we were embedding.
        winner = find_by_hash(console.engine, console.kb, job.content_hash)
        if winner is None:
            raise
        return _duplicate(job.filename, winner.id, winner.title)
    return result


def _stored_result(
    filename: str, stored: StoredDocument, chunks: list[Chunk], flags: list[str]
) -> IngestResult:
    tokens = sum(c.token_count for c in chunks)
    outcome = "replaced" if stored.replaced else "ingested"
    message = f"{len(chunks)} chunk{'' if len(chunks) == 1 else 's'}, {tokens:,} tokens"
    if stored.replaced:
        message += f" (version {stored.version} replaces the previous one)"
    if HIDDEN_TEXT_REMOVED in flags:
        message += "; hidden text (CSS-hidden or invisible elements) was left out"
    return IngestResult(filename, outcome, message, stored.id, len(chunks), tokens)


def _embed_chunks(job: _Job, chunks: list[Chunk]) -> tuple[npt.NDArray[np.float32], str]:
    """The chunks' vectors and their resume key. Each batch is kept in PostgreSQL as soon as it
    is paid for, so the same texts embedded again (a retry, or a job taken over after its worker
    died) start at the first batch that is missing."""
    console = job.console
    total, texts = len(chunks), [c.text for c in chunks]
    policy = ingestion_policy(console.settings, console.embedder)
    key = resume_key(console.embedder, policy, texts)
    finished = paid_batches(console.engine, key)
    batches = -(-total // policy.batch_size)
    job.report(0.05, f"embedding {total} chunks")
    job.stage("embedding", len(finished), batches)

    def on_batch(number: int, vectors: npt.NDArray[np.float32]) -> None:
        paid = job.calls[:]  # this batch's call, and any that failed before it
        del job.calls[: len(paid)]  # the embedding threads only append: nothing else is lost
        rows = call_rows(paid, prices=console.settings.prices, user=job.user)
        keep_paid_batch(console.engine, key, number, vectors, calls=rows)

    def on_progress(done: int) -> None:
        job.report(0.05 + 0.89 * done / total, f"embedded {done} of {total} chunks")
        job.stage("embedding", len(finished), batches)

    vectors = embed_in_batches(
        console.embedder,
        texts,
        policy=policy,
        limiter=shared_limiter(console.rate_limiters, console.settings, console.embedder),
        calls=job.calls,
        on_progress=on_progress,
        on_batch=on_batch,
        finished=finished,
    )
    return vectors, key


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
