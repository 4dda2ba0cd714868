"""Ingestion jobs as people see them: one row per file, from queued to how it ended.

Running one is rag/ingest/job_run.py.

The rows live in PostgreSQL, so every app process and browser shows the same states, and a
worker on any machine runs a job by its id (rag/ingest/queue.py hands the ids to procrastinate).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import IngestionJob
from rag.ingest.stored_files import load_file, store_file
from rag.library.knowledge_bases import KnowledgeBaseRef

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
GONE = "The uploaded file is no longer stored; upload it again."


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
    hashes = [hashlib.sha256(file.data).hexdigest() for file in files]
    with engine.begin() as conn:
        # The bytes first, in hash order: uploads of the same files in other orders cannot deadlock.
        for content_hash, data in sorted({h: f.data for h, f in zip(hashes, files, strict=True)}.items()):
            store_file(conn, content_hash, data)
        for file, content_hash in zip(files, hashes, strict=True):
            ids.append(
                conn.execute(
                    sa.insert(IngestionJob)
                    .values(
                        knowledge_base_id=kb.id,
                        filename=file.filename,
                        content_hash=content_hash,
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
            .values(state="cancelled", message="Cancelled before it started.", **ended())
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
        mark_failed(engine, job_id, GONE)
        return False
    return True


def mark_failed(engine: Engine, job_id: int, message: str) -> None:
    """End a job that stopped on an error outside the pipeline's own handling."""
    job = IngestionJob
    with engine.begin() as conn:
        conn.execute(
            sa.update(job)
            .where(job.id == job_id, job.state.in_(ACTIVE))
            .values(state="failed", message=message, **ended())
        )


def ended() -> dict[str, object]:
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
