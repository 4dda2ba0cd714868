"""Running one ingestion job: claim it, ingest its file into its knowledge base, record the end.

A job runs at most once to its end: one that already ended is left alone, and one taken over from
a dead worker resumes where it was (its embedded batches are in PostgreSQL).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.models import IngestionJob, KnowledgeBase
from rag.console import Console
from rag.errors import ConsoleError
from rag.ingest.jobs import ACTIVE, GONE, RETRYABLE, ended, mark_failed
from rag.ingest.pipeline import IngestCancelled, IngestResult, Stage, ingest_file
from rag.ingest.stored_files import load_file, release_file
from rag.library.knowledge_bases import open_knowledge_base

_PROGRESS_EVERY_S = 0.5  # a running job writes its progress at most this often


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
        mark_failed(engine, job_id, str(exc))
        return
    data = load_file(engine, job.content_hash)
    if data is None:
        mark_failed(engine, job_id, GONE)
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
            **ended(),
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
