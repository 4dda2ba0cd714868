"""Workers: processes that run the queued jobs (`python -m rag worker`, on any machine).

A worker is procrastinate's, on its asynchronous psycopg 3 connector: that is what procrastinate's
worker is built on (LISTEN/NOTIFY wakes it for new jobs, heartbeats tell live workers from dead
ones), while the app keeps psycopg2 under SQLAlchemy. Jobs run in threads, `concurrency` at a time.
A worker that dies leaves its job "doing"; recovery (when a worker starts, and every 10 seconds) hands
it to a live worker, which resumes it where it was (rag/ingest/jobs.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import procrastinate
from sqlalchemy.engine import Engine

from rag.console import Console
from rag.ingest.folder_sync import sync_folder
from rag.ingest.job_run import run_job
from rag.ingest.jobs import mark_failed
from rag.ingest.paid_batches import drop_old_paid_batches
from rag.ingest.queue import QUEUE, TASK, defer, orphans
from rag.ingest.stored_files import release_unneeded_files

SYNC_USER = "folder sync"
# A job waiting for another of the same content (one lock) gets no notification when that one ends:
# only polling finds it, so poll every second rather than procrastinate's five.
FETCH_POLL_S = 1.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    """Work of another flow a worker also does on a schedule (the CLI composes them: an upper
    layer's work, such as closing abandoned answers, cannot be imported from here)."""

    name: str
    cron: str  # croniter syntax; a sixth field is seconds
    run: Callable[[Console], object]


def _periodic_task(job: PeriodicJob) -> Callable[[procrastinate.JobContext, int], None]:
    def task(context: procrastinate.JobContext, timestamp: int) -> None:
        result = job.run(context.additional_context["console"])
        log.info("%s: %s", job.name, result)

    return task


def ingest_task(context: procrastinate.JobContext, job_id: int) -> None:
    console: Console = context.additional_context["console"]
    try:
        run_job(console, job_id, should_abort=context.should_abort)
    except Exception as exc:
        # A bug, or a database that went away: the job must not look as if it were still running.
        mark_failed(console.engine, job_id, f"The job stopped on an unexpected error: {exc}")
        raise


async def recover_task(context: procrastinate.JobContext, timestamp: int) -> None:
    console: Console = context.additional_context["console"]
    await recover(context.app, console)


def tidy_task(context: procrastinate.JobContext, timestamp: int) -> None:
    console: Console = context.additional_context["console"]
    files = release_unneeded_files(console.engine)
    batches = drop_old_paid_batches(console.engine)
    log.info("released %d stored files and %d old embedding batches", files, batches)


def sync_task(context: procrastinate.JobContext, timestamp: int) -> None:
    console: Console = context.additional_context["console"]
    for folder in console.settings.sync_folders:
        report = sync_folder(console, folder, user=SYNC_USER)
        log.info("scheduled sync of %s", report.summary())


def _worker_app(console: Console, concurrency: int, periodic: Sequence[PeriodicJob]) -> procrastinate.App:
    """A worker's app: its own psycopg 3 pool, the tasks, and the periodic ones."""
    connector = procrastinate.PsycopgConnector(
        conninfo=_libpq_url(console.engine), min_size=1, max_size=concurrency + 2
    )
    app = procrastinate.App(connector=connector)
    app.task(name=TASK, queue=QUEUE, pass_context=True)(ingest_task)
    recovering = app.task(name="recover_stalled_jobs", queue=QUEUE, pass_context=True)(recover_task)
    # Every 10 s (croniter's sixth field is seconds): a dead worker's job waits at most that long
    # once WORKER_STALLED_AFTER_S has passed.
    app.periodic(cron="* * * * * */10", periodic_id="recover")(recovering)
    nightly = app.task(name="tidy_ingestion_leftovers", queue=QUEUE, pass_context=True)(tidy_task)
    app.periodic(cron="17 3 * * *", periodic_id="tidy")(nightly)
    if console.settings.sync_schedule and console.settings.sync_folders:
        syncing = app.task(name="sync_folders", queue=QUEUE, pass_context=True)(sync_task)
        app.periodic(cron=console.settings.sync_schedule, periodic_id="sync")(syncing)
    for job in periodic:
        task = app.task(name=job.name, queue=QUEUE, pass_context=True)(_periodic_task(job))
        app.periodic(cron=job.cron, periodic_id=job.name)(task)
    return app


def run_worker(
    console: Console,
    *,
    concurrency: int = 1,
    wait: bool = True,
    in_main_thread: bool = True,
    periodic: Sequence[PeriodicJob] = (),
) -> None:
    """Run jobs until stopped (SIGINT, SIGTERM), or with `wait=False` until the queue is empty."""
    asyncio.run(_work(console, concurrency=concurrency, wait=wait, signals=in_main_thread, periodic=periodic))


async def recover(app: procrastinate.App, console: Console) -> int:
    """Give the jobs of dead workers (no heartbeat lately) to live ones, and queue the jobs whose
    deferral never happened (the process died between keeping a file and queueing its job)."""
    stalled_after = console.settings.worker_stalled_after_s
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after, queue=QUEUE)
    for job in stalled:
        log.warning("job %s of a dead worker is taken up again", job.id)
        await app.job_manager.retry_job(job)
    lost = await asyncio.to_thread(orphans, console.engine)
    await asyncio.to_thread(defer, console, lost)
    return len(list(stalled)) + len(lost)


async def _work(
    console: Console, *, concurrency: int, wait: bool, signals: bool, periodic: Sequence[PeriodicJob]
) -> None:
    settings = console.settings
    app = _worker_app(console, concurrency, periodic)
    async with app.open_async():
        await recover(app, console)
        await app.run_worker_async(
            queues=[QUEUE],
            concurrency=concurrency,
            wait=wait,
            additional_context={"console": console},
            delete_jobs="successful",  # ingestion_jobs keeps what people need to see
            install_signal_handlers=signals,
            update_heartbeat_interval=settings.worker_heartbeat_s,
            stalled_worker_timeout=settings.worker_stalled_after_s,
            listen_notify=True,
            fetch_job_polling_interval=FETCH_POLL_S,
        )


def _libpq_url(engine: Engine) -> str:
    """The engine's database as a libpq connection string (what psycopg 3 takes)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
