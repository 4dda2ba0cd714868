"""Ingestion workers for benchmarks: `python -m rag worker` subprocesses, and timing queued files.

The workers are started as an operator would start them, against the benchmark's throwaway
database; each gets its own process group, so stopping one also stops the parse workers it
started, and nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rag.console import Console
from rag.ingest.jobs import JobView, NewFile, job_views
from rag.ingest.queue import enqueue, workers_alive

ROOT = Path(__file__).resolve().parent.parent
POLL_S = 0.02  # how often the benchmark looks at the jobs' states (one small SELECT)
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class QueuedRun:
    """Files queued at once and run by workers, timed from the enqueue call to the last job's end."""

    views: list[JobView]
    seconds: float  # enqueue to all jobs ended, as polled every POLL_S
    enqueue_seconds: float  # of which the enqueue call (keeping the bytes, one job row each, defer)
    wall_start: float  # time.time() at the enqueue call and once all had ended
    wall_end: float

    @property
    def chunks(self) -> int:
        return sum(v.chunk_count for v in self.views)

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for v in self.views:
            counts[v.state] = counts.get(v.state, 0) + 1
        return counts

    def job_seconds(self) -> list[float]:
        """Each job's run time, from its claim to its end (the database's clock)."""
        return [
            (v.finished_at - v.started_at).total_seconds()
            for v in self.views
            if v.started_at is not None and v.finished_at is not None
        ]

    def waited_seconds(self) -> list[float]:
        """Each job's time in the queue, from its row to its claim."""
        return [(v.started_at - v.created_at).total_seconds() for v in self.views if v.started_at is not None]


@contextmanager
def worker_processes(
    console: Console,
    env: Mapping[str, str],
    *,
    count: int,
    concurrency: int,
    log_dir: Path,
    module: str = "rag",
    nice: int = 0,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` workers (`python -m rag worker --concurrency N`) with `env` as their settings, once
    all have registered with the queue; stopped (SIGTERM, then SIGKILL of their group) after.
    `module` runs another entry point with the same arguments (bench.profile_worker); `nice`
    lowers the workers' CPU priority."""
    before = workers_alive(console.engine)
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", module, "worker", "--concurrency", str(concurrency)]
    processes: list[subprocess.Popen[bytes]] = []
    with ExitStack() as stack:
        stack.callback(_stop_all, processes)
        for i in range(count):
            log: IO[bytes] = stack.enter_context(open(log_dir / f"worker-{i + 1}.log", "wb"))
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # A process group of its own, in this session: stopping it stops its parse
                    # workers too, and `nice` counts against this process's (a new session would
                    # be a scheduler autogroup of its own, where nice changes nothing).
                    process_group=0,
                    preexec_fn=(lambda: os.nice(nice)) if nice else None,
                )
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while workers_alive(console.engine) < before + count:
            dead = [p for p in processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = (log_dir / "worker-1.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the workers did not start (see {log_dir}):\n{logs}")
            time.sleep(0.1)
        yield processes


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)  # procrastinate stops gracefully and unregisters
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for p in processes:
        with suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        # The worker's own group: its parse workers (and the worker, if it did not stop).
        with suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def run_queued(console: Console, files: Sequence[NewFile], *, user: str = "bench") -> QueuedRun:
    """Queue `files` at once and wait for the running workers to end every job."""
    wall_start, started = time.time(), time.perf_counter()
    ids = enqueue(console, list(files), user=user)
    enqueued = time.perf_counter() - started
    views = wait_until_ended(console, ids)
    return QueuedRun(views, time.perf_counter() - started, enqueued, wall_start, time.time())


def wait_until_ended(console: Console, ids: Sequence[int], *, timeout_s: float = 900.0) -> list[JobView]:
    deadline = time.monotonic() + timeout_s
    while True:
        views = job_views(console.engine, console.kb, ids=ids, limit=len(ids) + 1)
        if all(not v.active for v in views) and len(views) == len(ids):
            return sorted(views, key=lambda v: v.id)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(v.active for v in views)} of {len(ids)} jobs still running")
        time.sleep(POLL_S)


def warm_up(console: Console, *, jobs: int, tag: str) -> None:
    """Run a few tiny files through the workers first: each has its parse workers started, its
    connections open and its model loaded, as a worker that has been up for a while would."""
    files = [
        NewFile(
            f"warm-up-{tag}-{i}.md",
            f"# Warm-up {tag} {i}\n\nA short note, number {i}, that starts the workers' parsers.\n".encode(),
        )
        for i in range(jobs)
    ]
    run = run_queued(console, files, user="bench warm-up")
    failed = [v for v in run.views if v.state != "ingested"]
    if failed:
        raise RuntimeError(f"warm-up job {failed[0].filename}: {failed[0].state}: {failed[0].message}")


_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(groups: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """CPU seconds (user + system) so far of named groups of processes: for each group "<name>"
    its root processes' own time, and as "<name> children" that of their live descendants and of
    the children they reaped (a descendant that is another group's root is left to that group).
    The difference between two calls is what each group spent between them."""
    stats: dict[int, tuple[int, float, float]] = {}  # pid: ppid, own time, reaped children's time
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        ppid, utime, stime, cutime, cstime = (int(fields[i]) for i in (1, 11, 12, 13, 14))
        stats[int(entry.name)] = (ppid, (utime + stime) * _TICK_S, (cutime + cstime) * _TICK_S)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    roots = {pid for pids in groups.values() for pid in pids}
    totals: dict[str, float] = {}
    for name, pids in groups.items():
        live = [p for p in pids if p in stats]
        below = sum(stats[p][2] for p in live)
        todo = [c for p in live for c in children.get(p, []) if c not in roots]
        while todo:
            pid = todo.pop()
            below += stats[pid][1] + stats[pid][2]
            todo.extend(c for c in children.get(pid, []) if c not in roots)
        totals[name] = sum(stats[p][1] for p in live)
        totals[f"{name} children"] = below
    return totals


def cpu_spent(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


def postmaster_pid(data_dir: Path) -> int:
    """The PostgreSQL server's main process, from its data directory."""
    return int((data_dir / "postmaster.pid").read_text().split()[0])
