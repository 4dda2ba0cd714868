"""Real worker processes for tests: `python -m rag worker` on a test database, always stopped.

    with running_workers(worker_env(database_url, tmp_path / "data"), log_dir=tmp_path) as workers:
        workers.start(2, concurrency=1)
        ...

Each process gets its own `application_name` (through DATABASE_URL), so a test can tell its
connections apart in pg_stat_activity. Waits poll with a deadline: a busy machine makes a test
slower, never wrong.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from rag.console import Console, open_console
from rag.settings import load_settings
from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parent.parent
USER = "worker-test"
DEADLINE_S = 60.0
# A silent worker counts as dead after 2 s, so a killed worker's job is taken up at once.
FAST_RECOVERY = {"WORKER_HEARTBEAT_S": "0.5", "WORKER_STALLED_AFTER_S": "2"}
BATCH = 4

T = TypeVar("T")


def with_application_name(database_url: str, name: str) -> str:
    """The same database, with connections labelled `name` in pg_stat_activity."""
    url = make_url(database_url)
    return url.update_query_dict({"application_name": name}).render_as_string(hide_password=False)


def worker_env(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """Settings for `python -m rag ...` subprocesses: the test database, fast recovery, and the
    offline providers unless `settings` say otherwise."""
    return {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "CONSOLE_USER": USER,
        "EMBEDDING_PROVIDER": "local",
        "ANSWER_MODE": "offline",
        **FAST_RECOVERY,
        **settings,
    }


def openai_settings(fake: FakeOpenAI, **overrides: str) -> dict[str, str]:
    """OpenAI mode against the fake server, with small chunks and batches: a page of text makes
    several embedding requests."""
    return {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake.base_url,
        "EMBEDDING_PROVIDER": "openai",
        "ANSWER_MODE": "openai",
        "EMBEDDING_BATCH_SIZE": str(BATCH),
        "EMBEDDING_CONCURRENCY": "1",  # one request in flight: a kill loses at most one
        "CHUNK_TOKENS": "40",
        "CHUNK_OVERLAP": "0",
        "OPENAI_TIMEOUT": "30",
        "OPENAI_MAX_RETRIES": "0",
        "EMBEDDING_RETRY_ATTEMPTS": "1",
        **overrides,
    }


def run_rag(
    env: Mapping[str, str], *args: str, name: str = "kc-cli", timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m rag ARGS` to its end, labelled `name` in pg_stat_activity."""
    return subprocess.run(
        [sys.executable, "-m", "rag", *args],
        cwd=REPO,
        env=process_env(env, name),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Workers:
    """Worker processes started by a test; `running_workers` stops every one of them."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.engine: Engine = sa.create_engine(env["DATABASE_URL"], poolclass=sa.NullPool)

    def start(
        self, count: int = 1, *, concurrency: int = 1, ready: bool = True, **settings: str
    ) -> list[subprocess.Popen[bytes]]:
        """Start `count` workers (`settings` over the pool's); with `ready`, return once each has
        registered with the queue."""
        known = self._worker_rows()
        started = []
        for _ in range(count):
            number = len(self.procs)
            log = (self.log_dir / f"worker-{number}.log").open("wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", "rag", "worker", "--concurrency", str(concurrency)],
                cwd=REPO,
                env=process_env({**self.env, **settings}, self.name(number)),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            self.procs.append(proc)
            started.append(proc)
        if ready:

            def registered() -> bool:
                self.check_running()
                return len(self._worker_rows(beating=True) - known) >= count

            wait_until(registered, what=f"{count} new worker(s) to register", timeout=DEADLINE_S)
        return started

    def name(self, number: int) -> str:
        return f"kc-worker-{number}"

    def _worker_rows(self, *, beating: bool = False) -> set[int]:
        """Workers registered with the queue (with `beating`, only those with a recent heartbeat)."""
        recent = " WHERE last_heartbeat > now() - interval '2 seconds'" if beating else ""
        with self.engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT id FROM procrastinate_workers" + recent)).scalars())

    def check_running(self) -> None:
        """Fail at once (with its output) if a worker that should run has exited."""
        for number, proc in enumerate(self.procs):
            if proc.returncode is None and proc.poll() is not None:
                raise AssertionError(f"worker {number} exited with {proc.returncode}:\n{self.output(number)}")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no handler runs, the job is left 'doing', as when a machine dies. Returns once
        the dead worker's heartbeat is old enough for its jobs to count as stalled: a worker started
        sooner would not take them up until the next periodic recovery (up to a minute later)."""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        stalled_after = float(self.env["WORKER_STALLED_AFTER_S"])

        def noticed() -> bool:
            recent = f" WHERE last_heartbeat > now() - make_interval(secs => {stalled_after})"
            with self.engine.connect() as conn:
                beating = conn.execute(
                    sa.text("SELECT count(*) FROM procrastinate_workers" + recent)
                ).scalar_one()
            return int(beating) <= len([p for p in self.procs if p.poll() is None])

        wait_until(noticed, what="the dead worker's heartbeat to go stale")

    def output(self, number: int) -> str:
        return (self.log_dir / f"worker-{number}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        self.engine.dispose()


@contextlib.contextmanager
def running_workers(env: Mapping[str, str], *, log_dir: Path) -> Iterator[Workers]:
    """Workers to start inside the block; all of them are stopped when it ends, however it ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    workers = Workers(env, log_dir)
    try:
        yield workers
    finally:
        workers.stop_all()


def wait_until(
    check: Callable[[], T | None], *, what: str, timeout: float = DEADLINE_S, every: float = 0.1
) -> T:
    """Poll `check` until it returns something true, and return that; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {result!r})")
        time.sleep(every)


def jobs(engine: Engine) -> list[Any]:
    """Every ingestion job with its queue job, oldest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT j.id, j.filename, j.state, j.message, j.attempts, j.batches_done, "
                    "j.batches_total, j.chunk_count, j.token_count, j.document_id, j.queue_job_id, "
                    "j.content_hash, q.status AS queue_status, q.attempts AS queue_attempts "
                    "FROM ingestion_jobs j LEFT JOIN procrastinate_jobs q ON q.id = j.queue_job_id "
                    "ORDER BY j.id"
                )
            ).all()
        )


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def all_ended(engine: Engine, count: int) -> list[Any] | None:
    """The jobs, once there are `count`, none is queued or running, and the queue is done with
    each (procrastinate marks its job after our row has ended)."""
    found = jobs(engine)
    active = ("queued", "parsing", "embedding", "storing")
    if len(found) == count and all(
        j.state not in active and j.queue_status not in ("todo", "doing") for j in found
    ):
        return found
    return None


def embedding_inputs(fake: FakeOpenAI) -> list[tuple[str, ...]]:
    """The texts of every embedding request the fake server received, in arrival order."""
    return [
        tuple(body["input"])
        for body, path in zip(fake.requests, fake.paths, strict=True)
        if path == "/v1/embeddings"
    ]


def long_text(topic: str, paragraphs: int) -> str:
    """A plain-text document of `paragraphs` distinct paragraphs (about one 40-token chunk each)."""
    return "\n\n".join(
        f"Section {n} about {topic}. The {topic} procedure number {n} asks the crew to check valve {n * 7} "
        f"and record pressure reading {n * 13} in the {topic} log before shift {n % 5} ends today."
        for n in range(1, paragraphs + 1)
    )


def process_env(env: Mapping[str, str], name: str) -> dict[str, str]:
    return {
        **os.environ,
        **env,
        "DATABASE_URL": with_application_name(env["DATABASE_URL"], name),
        "PYTHONUNBUFFERED": "1",
    }


# Fixture bodies: a test module registers them, e.g. `app = pytest.fixture(app_console, name="app")`.


def openai_env(database_url: str, tmp_path: Path, fake: FakeOpenAI) -> dict[str, str]:
    return worker_env(database_url, tmp_path / "data", **openai_settings(fake))


def open_app(env: Mapping[str, str], *, name: str = "kc-app") -> Console:
    """A console opened the way the app opens one, on the workers' database, labelled `name`."""
    values = {**env, "DATABASE_URL": with_application_name(env["DATABASE_URL"], name)}
    return open_console(load_settings(values, secrets_file=None))


def app_console(env: dict[str, str]) -> Iterator[Console]:
    console = open_app(env)
    yield console
    console.engine.dispose()


def worker_pool(env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    with running_workers(env, log_dir=tmp_path / "workers") as workers:
        yield workers


def observer(database_url: str) -> Iterator[Engine]:
    """The test's own view of the database (no pool: nothing of it lingers in pg_stat_activity)."""
    engine = sa.create_engine(with_application_name(database_url, "kc-observer"), poolclass=sa.NullPool)
    yield engine
    engine.dispose()


class Sampler(Generic[T]):
    """Calls `sample` on a thread every `every` seconds while the block runs, keeping each result:
    what other processes did meanwhile, seen from outside."""

    def __init__(self, sample: Callable[[], T], *, every: float = 0.05) -> None:
        self.sample, self.every = sample, every
        self.results: list[T] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.results.append(self.sample())
            self._stop.wait(self.every)


def library(engine: Engine) -> list[Any]:
    """Each document with the chunks it says it has and those stored, in one snapshot."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT d.id, d.filename, d.chunk_count, d.source, "
                    "(SELECT count(*) FROM chunks c WHERE c.document_id = d.id) AS stored "
                    "FROM documents d ORDER BY d.filename"
                )
            ).all()
        )
