"""The job queue, as the app sees it: procrastinate's tables in the same PostgreSQL.

The app defers jobs through its own SQLAlchemy engine (psycopg2) and returns at once; workers
(rag/ingest/worker.py) run them. Jobs of the same content in one knowledge base share a
procrastinate lock, so they run one after the other: the first stores the document, the others
find it and end as duplicates, and the file is embedded once.
"""

from __future__ import annotations

from collections.abc import Sequence

import procrastinate
import sqlalchemy as sa
from procrastinate.contrib.sqlalchemy import SQLAlchemyPsycopg2Connector
from procrastinate.tasks import configure_task
from sqlalchemy.engine import Engine

from db.models import IngestionJob
from rag.console import Console
from rag.ingest.jobs import NewFile, create_jobs, request_cancel, reset_for_retry, set_queue_job

QUEUE = "ingestion"
TASK = "ingest_file"


def enqueue(console: Console, files: Sequence[NewFile], *, user: str) -> list[int]:
    """Keep the files and queue a job for each; returns the job ids at once."""
    ids = create_jobs(console.engine, console.kb, files, user=user)
    defer(console, ids)
    return ids


def cancel(console: Console, job_id: int) -> str | None:
    """Cancel a queued job, or stop a running one at its next step; the job's state after, or None."""
    state = request_cancel(console.engine, job_id)
    if state == "cancelled":
        queue_job_id = _queue_job_id(console.engine, job_id)
        if queue_job_id is not None:
            with _deferring(console.engine) as app:
                app.job_manager.cancel_job_by_id(queue_job_id, delete_job=True)
    return state


def retry(console: Console, job_id: int) -> bool:
    """Queue a failed or cancelled job again; False if it cannot be (not failed, bytes gone)."""
    if not reset_for_retry(console.engine, job_id):
        return False
    defer(console, [job_id])
    return True


def workers_alive(engine: Engine, *, within_s: float = 30.0) -> int:
    """How many workers sent a heartbeat lately, on any machine."""
    with engine.connect() as conn:
        count: int = conn.execute(
            sa.text(
                "SELECT count(*) FROM procrastinate_workers "
                "WHERE last_heartbeat > now() - make_interval(secs => :s)"
            ),
            {"s": within_s},
        ).scalar_one()
    return count


def defer(console: Console, job_ids: Sequence[int]) -> None:
    if not job_ids:
        return
    hashes = _content_hashes(console.engine, job_ids)
    with _deferring(console.engine) as app:
        for job_id in job_ids:
            # One job per content at a time: six uploads of one file embed it once.
            lock = f"ingest:{console.kb.id}:{hashes[job_id]}"
            deferrer = configure_task(name=TASK, job_manager=app.job_manager, queue=QUEUE, lock=lock)
            queue_job_id = deferrer.defer(job_id=job_id)
            set_queue_job(console.engine, job_id, queue_job_id)


class _deferring:
    """procrastinate on the app's own engine, for the length of a `with`: jobs are deferred by
    task name, so no task needs registering here."""

    def __init__(self, engine: Engine) -> None:
        self.app = procrastinate.App(connector=SQLAlchemyPsycopg2Connector())
        self.engine = engine

    def __enter__(self) -> procrastinate.App:
        self.app.open(self.engine)
        return self.app

    def __exit__(self, *_exc: object) -> None:
        self.app.close()  # the engine is the app's: closing leaves its pool alone


def _content_hashes(engine: Engine, job_ids: Sequence[int]) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(IngestionJob.id, IngestionJob.content_hash).where(IngestionJob.id.in_(list(job_ids)))
        ).all()
    return {r.id: r.content_hash for r in rows}


def _queue_job_id(engine: Engine, job_id: int) -> int | None:
    with engine.connect() as conn:
        found: int | None = conn.execute(
            sa.select(IngestionJob.queue_job_id).where(IngestionJob.id == job_id)
        ).scalar_one_or_none()
    return found


def orphans(engine: Engine) -> list[int]:
    job = IngestionJob
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(job.id).where(
                    job.state == "queued",
                    job.queue_job_id.is_(None),
                    job.created_at < sa.func.now() - sa.text("interval '1 minute'"),
                )
            ).scalars()
        )
