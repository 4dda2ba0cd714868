"""Ingestion jobs as people see them: one row per file, from queued to how it ended.

The rows live in PostgreSQL, so every app process and browser shows the same states, and a
worker on any machine runs a job by its id (rag/ingest/queue.py hands the ids to procrastinate).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.models import IngestionJob, KnowledgeBase
from rag.console import Console
from rag.errors import ConsoleError
from rag.ingest.pipeline import IngestCancelled, IngestResult, Stage, ingest_file
from rag.ingest.stored_files import load_file, release_file, store_file
from rag.library.knowledge_bases import KnowledgeBaseRef, open_knowledge_base

JobState = Literal[
    "queued",
    "parsing",
    "embedding",
    "storing",
    "ingested",
    "replaced",
    "duplicate",
    "rejected",
    "failed",
    "cancelled",
]
STATES: tuple[JobState, ...] = get_args(JobState)
ACTIVE: tuple[JobState, ...] = ("queued", "parsing", "embedding", "storing")
RETRYABLE: tuple[JobState, ...] = ("failed", "cancelled")
_PROGRESS_EVERY_S = 0.5  # a running job writes its progress at most this often
_GONE = "The uploaded file is no longer stored; upload it again."


@dataclass(frozen=True)
class NewFile:
    filename: str
    data: bytes
    source: str | None = None  # the server folder a folder sync read it from


@dataclass(frozen=True)
class JobView:
    id: int
    filename: str
    state: JobState
    message: str | None
    batches_done: int
    batches_total: int
    chunk_count: int
    token_count: int
    size_bytes: int
    uploaded_by: str
    source: str | None
    document_id: int | None
    queue_job_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def retryable(self) -> bool:
        return self.state in RETRYABLE


def job_fraction(view: JobView) -> float:
    """How far a job has come, from 0 to 1: parsing is the first few percent, storing the last."""
    if not view.active:
        return 1.0
    if view.state == "embedding" and view.batches_total:
        return 0.05 + 0.89 * view.batches_done / view.batches_total
    return {"queued": 0.0, "parsing": 0.02, "embedding": 0.05, "storing": 0.95}[view.state]


def create_jobs(engine: Engine, kb: KnowledgeBaseRef, files: Sequence[NewFile], *, user: str) -> list[int]:
    """Keep each file's bytes and a queued job for it, all in one transaction."""
    ids: list[int] = []
    hashes = {file.data: hashlib.sha256(file.data).hexdigest() for file in files}
    with engine.begin() as conn:
        # The bytes first, in hash order: uploads of the same files in other orders cannot deadlock.
        for data in sorted(hashes, key=hashes.__getitem__):
            store_file(conn, data)
        for file in files:
            ids.append(
                conn.execute(
                    sa.insert(IngestionJob)
                    .values(
                        knowledge_base_id=kb.id,
                        filename=file.filename,
                        content_hash=hashes[file.data],
                        size_bytes=len(file.data),
                        source=file.source,
                        uploaded_by=user,
                    )
                    .returning(IngestionJob.id)
                ).scalar_one()
            )
    return ids


def job_views(
    engine: Engine,
    kb: KnowledgeBaseRef,
    *,
    ids: Sequence[int] | None = None,
    hours: float | None = None,
    limit: int = 500,
) -> list[JobView]:
    """Newest first: the given jobs, or those still running plus those created in the last `hours`."""
    job = IngestionJob
    query = sa.select(*_COLUMNS).where(job.knowledge_base_id == kb.id)
    if ids is not None:
        query = query.where(job.id.in_(list(ids)))
    elif hours is not None:
        recent = job.created_at > sa.func.now() - sa.text(f"interval '{float(hours)} hours'")
        query = query.where(job.state.in_(ACTIVE) | recent)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(job.id.desc()).limit(limit)).all()
    return [JobView(**row._mapping) for row in rows]


def set_queue_job(engine: Engine, job_id: int, queue_job_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(IngestionJob).where(IngestionJob.id == job_id).values(queue_job_id=queue_job_id)
        )


def request_cancel(engine: Engine, job_id: int) -> str | None:
    """Cancel a queued job at once, or ask a running one to stop; its state after, or None."""
    job = IngestionJob
    with engine.begin() as conn:
        state: str | None = conn.execute(
            sa.update(job)
            .where(job.id == job_id, job.state == "queued")
            .values(state="cancelled", message="Cancelled before it started.", **_ended())
            .returning(job.state)
        ).scalar_one_or_none()
        if state is None:
            state = conn.execute(
                sa.update(job)
                .where(job.id == job_id, job.state.in_(ACTIVE))
                .values(cancel_requested=True, updated_at=sa.func.now())
                .returning(job.state)
            ).scalar_one_or_none()
    return state


def reset_for_retry(engine: Engine, job_id: int) -> bool:
    """Queue a failed or cancelled job again (its bytes must still be stored)."""
    job = IngestionJob
    with engine.begin() as conn:
        row = conn.execute(
            sa.update(job)
            .where(job.id == job_id, job.state.in_(RETRYABLE))
            .values(
                state="queued",
                message=None,
                batches_done=0,
                batches_total=0,
                cancel_requested=False,
                queue_job_id=None,
                finished_at=None,
                updated_at=sa.func.now(),
            )
            .returning(job.content_hash)
        ).first()
    if row is None:
        return False
    if load_file(engine, row.content_hash) is None:
        _finish(engine, job_id, "failed", _GONE)
        return False
    return True


def run_job(console: Console, job_id: int, *, should_abort: Callable[[], bool] = lambda: False) -> None:
    """Ingest the job's file and record how it ended. Runs at most once to its end: a job that
    already ended is left alone, and one taken over from a dead worker resumes where it was."""
    engine = console.engine
    job = _claim(engine, job_id)
    if job is None:
        return
    try:
        # Workers serve every knowledge base: the job goes into its own, if this worker's
        # embedding model is the one that built it (otherwise the job fails and says why).
        console = _for_knowledge_base(console, job.knowledge_base_id)
    except ConsoleError as exc:
        _finish(engine, job_id, "failed", str(exc))
        return
    data = load_file(engine, job.content_hash)
    if data is None:
        _finish(engine, job_id, "failed", _GONE)
        return
    progress = _ProgressWriter(engine, job_id, should_abort)
    result = ingest_file(
        console,
        job.filename,
        data,
        user=job.uploaded_by,
        on_stage=progress.stage,
        source=job.source,
        queued=True,
        on_stored=lambda conn, stored: _record_result(conn, job_id, stored),
    )
    if result.outcome not in ("ingested", "replaced"):  # those were recorded with the document
        _record_end(engine, job_id, result)
    if result.outcome not in RETRYABLE:
        release_file(engine, job.content_hash)


class _ProgressWriter:
    """Writes a running job's stage and batches done, and stops it when it was cancelled."""

    def __init__(self, engine: Engine, job_id: int, should_abort: Callable[[], bool]) -> None:
        self.engine, self.job_id, self.should_abort = engine, job_id, should_abort
        self.last: tuple[Stage, float] | None = None

    def stage(self, stage: Stage, done: int, total: int) -> None:
        now = time.monotonic()
        recent = self.last is not None and self.last[0] == stage and now - self.last[1] < _PROGRESS_EVERY_S
        if recent and done < total:  # the last batch is always written
            return
        self.last = (stage, now)
        job = IngestionJob
        batches = {"batches_done": done, "batches_total": total} if total else {}
        with self.engine.begin() as conn:
            cancel = conn.execute(
                sa.update(job)
                .where(job.id == self.job_id)
                # Parsing and storing report no batches: the embedding's count stays shown.
                .values(state=stage, updated_at=sa.func.now(), **batches)
                .returning(job.cancel_requested)
            ).scalar_one_or_none()
        if cancel or self.should_abort():
            raise IngestCancelled


def _claim(engine: Engine, job_id: int) -> sa.Row[str, str, str, str | None, int] | None:
    job = IngestionJob
    with engine.begin() as conn:
        row = conn.execute(
            sa.update(job)
            .where(job.id == job_id, job.state.in_(ACTIVE))
            .values(
                state=sa.case((job.state == "queued", "parsing"), else_=job.state),
                attempts=job.attempts + 1,
                started_at=sa.func.coalesce(job.started_at, sa.func.now()),
                updated_at=sa.func.now(),
            )
            .returning(job.filename, job.content_hash, job.uploaded_by, job.source, job.knowledge_base_id)
        ).first()
    return row


def _record_result(conn: Connection, job_id: int, result: IngestResult) -> None:
    job = IngestionJob
    conn.execute(
        sa.update(job)
        .where(job.id == job_id)
        .values(
            state=result.outcome,
            message=result.message,
            chunk_count=result.chunk_count,
            token_count=result.token_count,
            document_id=result.document_id,
            **_ended(),
        )
    )


def _record_end(engine: Engine, job_id: int, result: IngestResult) -> None:
    with engine.begin() as conn:
        _record_result(conn, job_id, result)


def _for_knowledge_base(console: Console, kb_id: int) -> Console:
    if kb_id == console.kb.id:
        return console
    with console.engine.connect() as conn:
        name = conn.execute(sa.select(KnowledgeBase.name).where(KnowledgeBase.id == kb_id)).scalar_one()
    return replace(console, kb=open_knowledge_base(console.engine, name, console.embedder))


def mark_failed(engine: Engine, job_id: int, message: str) -> None:
    """End a job that stopped on an error outside the pipeline's own handling."""
    job = IngestionJob
    with engine.begin() as conn:
        conn.execute(
            sa.update(job)
            .where(job.id == job_id, job.state.in_(ACTIVE))
            .values(state="failed", message=message, **_ended())
        )


def _finish(engine: Engine, job_id: int, state: JobState, message: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(IngestionJob)
            .where(IngestionJob.id == job_id)
            .values(state=state, message=message, **_ended())
        )


def _ended() -> dict[str, object]:
    return {"finished_at": sa.func.now(), "updated_at": sa.func.now()}


_COLUMNS = (
    IngestionJob.id,
    IngestionJob.filename,
    IngestionJob.state,
    IngestionJob.message,
    IngestionJob.batches_done,
    IngestionJob.batches_total,
    IngestionJob.chunk_count,
    IngestionJob.token_count,
    IngestionJob.size_bytes,
    IngestionJob.uploaded_by,
    IngestionJob.source,
    IngestionJob.document_id,
    IngestionJob.queue_job_id,
    IngestionJob.created_at,
    IngestionJob.started_at,
    IngestionJob.finished_at,
)
