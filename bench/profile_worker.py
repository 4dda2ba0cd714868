"""`python -m bench.profile_worker worker [--concurrency N]`: `python -m rag worker`, with the time
spent in each step of every job recorded (not a test; for bench.ingest --profile).

Each step is a function of rag/ingest (and what it calls by name) wrapped with a timer; every
call is kept as (step, thread, start, end) on the wall clock and written as JSON lines to
$BENCH_PROFILE_OUT.<pid> when the worker stops, so the benchmark can keep the calls of its timed
window only. Times are wall times on the job's thread: they include waiting for the CPU, for
locks in PostgreSQL and for the embeddings API.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (module, function) pairs: each is looked up by name where it is called, so patching the name in
# that module times every call of it there.
STEPS: tuple[tuple[str, str], ...] = (
    ("rag.ingest.worker", "run_job"),
    ("rag.ingest.job_run", "_claim"),
    ("rag.ingest.jobs", "load_file"),
    ("rag.ingest.jobs", "ingest_file"),
    ("rag.ingest.jobs", "release_file"),
    ("rag.ingest.job_run", "_record_end"),
    ("rag.ingest.pipeline", "_ingest"),
    ("rag.ingest.pipeline", "find_by_hash"),
    ("rag.ingest.pipeline", "parse_isolated"),
    ("rag.ingest.pipeline", "chunk_sections"),
    ("rag.ingest.pipeline", "paid_batches"),
    ("rag.ingest.pipeline", "embed_in_batches"),
    ("rag.ingest.pipeline", "keep_paid_batch"),
    ("rag.ingest.pipeline", "store_document"),
    ("rag.ingest.pipeline", "forget_paid_batches"),
    ("rag.ingest.pipeline", "record_calls"),
    ("rag.ingest.pipeline", "record_ingestion_event"),
    ("rag.ingest.embedding_batches", "timed_embed"),
    ("rag.library.documents", "copy_chunks"),
)
METHODS: tuple[tuple[str, str, str], ...] = (("rag.ingest.job_run", "_ProgressWriter", "stage"),)

_calls: list[tuple[str, str, float, float]] = []
_lock = threading.Lock()


def _timed(step: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.time()
        try:
            return func(*args, **kwargs)
        finally:
            ended = time.time()
            with _lock:
                _calls.append((step, threading.current_thread().name, started, ended))

    return wrapper


def install() -> None:
    for module_name, name in STEPS:
        module = importlib.import_module(module_name)
        setattr(module, name, _timed(name, getattr(module, name)))
    for module_name, cls_name, name in METHODS:
        cls = getattr(importlib.import_module(module_name), cls_name)
        setattr(cls, name, _timed(f"{cls_name}.{name}", getattr(cls, name)))


def _write(path: Path) -> None:
    with _lock:
        calls = list(_calls)
    with path.open("w", encoding="utf-8") as out:
        for step, thread, started, ended in calls:
            out.write(json.dumps({"step": step, "thread": thread, "start": started, "end": ended}) + "\n")


def read_profile(path: Path, *, since: float, until: float) -> list[dict[str, Any]]:
    """The calls recorded in `path` that started within [since, until] (wall clock)."""
    if not path.is_file():
        return []
    calls = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [c for c in calls if since <= c["start"] <= until]


def main() -> int:
    install()
    out = os.environ.get("BENCH_PROFILE_OUT")
    if out:
        atexit.register(_write, Path(f"{out}.{os.getpid()}"))
    from rag.cli import main as rag_main

    return rag_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
