"""Waiting for jobs to end, as `rag ingest` and `rag sync` do: with workers running, they do the
work; with none, this process runs the queue itself until its jobs are done."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from rag.console import Console
from rag.ingest.jobs import JobView, job_views
from rag.ingest.queue import workers_alive
from rag.ingest.worker import run_worker

POLL_S = 0.2


def wait_for_jobs(
    console: Console,
    job_ids: Sequence[int],
    *,
    on_update: Callable[[list[JobView]], None] | None = None,
    concurrency: int = 2,
) -> list[JobView]:
    """The jobs once all have ended, in the order of `job_ids`; `on_update` sees every poll."""
    order = {job_id: i for i, job_id in enumerate(job_ids)}
    local: threading.Thread | None = None
    while True:
        views = sorted(job_views(console.engine, console.kb, ids=job_ids), key=lambda v: order[v.id])
        if on_update is not None:
            on_update(views)
        if all(not v.active for v in views):
            return views
        idle = local is None or not local.is_alive()
        if idle and workers_alive(console.engine, within_s=console.settings.worker_stalled_after_s) == 0:
            local = threading.Thread(
                target=run_worker,
                args=(console,),
                kwargs={"concurrency": concurrency, "wait": False, "in_main_thread": False},
                name="local-worker",
                daemon=True,
            )
            local.start()
        time.sleep(POLL_S)
