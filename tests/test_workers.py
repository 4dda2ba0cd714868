"""Worker processes as they fail and share work: a worker killed mid-job, several workers and
several app processes on one database, and the database connections a running job holds."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rag.console import Console
from rag.ingest.jobs import JobView, NewFile, job_views
from rag.ingest.pipeline import ingest_file
from rag.ingest.queue import enqueue
from tests.fake_openai import FakeOpenAI, serve
from tests.workers import (
    BATCH,
    Sampler,
    Workers,
    all_ended,
    app_console,
    embedding_inputs,
    jobs,
    library,
    long_text,
    observer,
    open_app,
    openai_env,
    run_rag,
    scalar,
    wait_until,
    with_application_name,
    worker_pool,
)

fake = pytest.fixture(serve, name="fake")
env = pytest.fixture(openai_env, name="env")
app = pytest.fixture(app_console, name="app")
workers = pytest.fixture(worker_pool, name="workers")
db = pytest.fixture(observer, name="db")

ADMIN = "admin"


def only_job(db: Engine) -> Any:
    [job] = jobs(db)
    return job


def batch_inputs(db: Engine) -> list[tuple[str, ...]]:
    """The stored document's chunk texts, cut into the embedding batches they were sent in."""
    with db.connect() as conn:
        texts = list(conn.execute(sa.text("SELECT text FROM chunks ORDER BY position")).scalars())
    return [tuple(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]


def test_a_killed_workers_job_resumes_on_another_without_paying_twice(
    app: Console, workers: Workers, db: Engine, fake: FakeOpenAI
) -> None:
    fake.request_delay_s = 0.4  # ten batches one at a time: about four seconds of embedding
    enqueue(app, [NewFile("reactor.txt", long_text("reactor", 40).encode())], user=ADMIN)
    with Sampler(lambda: library(db)) as seen:
        [first] = workers.start(1)
        wait_until(
            lambda: (job := only_job(db)).state == "embedding" and job.batches_done >= 2,
            what="two batches embedded",
        )
        workers.kill(first)
        with db.connect() as conn:
            kept = set(conn.execute(sa.text("SELECT batch FROM embedded_batches")).scalars())
            logged = conn.execute(sa.text("SELECT count(*) FROM model_calls")).scalar_one()
        sent_before = embedding_inputs(fake)
        in_flight = len(sent_before) - len(kept)
        assert len(kept) >= 2 and in_flight in (0, 1)
        assert logged == len(kept)  # each batch paid for is logged as it arrives, not at the end
        orphaned = only_job(db)
        assert (orphaned.state, orphaned.queue_status, orphaned.attempts) == ("embedding", "doing", 1)
        assert scalar(db, "SELECT count(*) FROM documents") == 0

        fake.request_delay_s = 0.0
        workers.start(1)
        [job] = wait_until(lambda: all_ended(db, 1), what="the job to end")
        # The sampler runs on its own thread: let it look once more after the commit.
        wait_until(lambda: bool(seen.results) and len(seen.results[-1]) == 1, what="a sample of the document")
    # Seen from outside all along: never more than one document, never one without all its chunks.
    assert len(seen.results) > 10 and {len(docs) for docs in seen.results} == {0, 1}
    assert all(d.stored == d.chunk_count == 40 for docs in seen.results for d in docs)

    assert (job.state, job.attempts, job.chunk_count) == ("ingested", 2, 40), job.message
    with db.connect() as conn:
        stored = conn.execute(sa.text("SELECT id, chunk_count FROM documents")).all()
    assert [tuple(d) for d in stored] == [(job.document_id, 40)]
    batches = batch_inputs(db)
    assert len(batches) == math.ceil(40 / BATCH)
    sent_after = embedding_inputs(fake)[len(sent_before) :]
    # The second worker sends exactly the batches nobody paid for; the one in flight at the kill
    # (if any) is the only batch paid twice.
    assert sorted(sent_after) == sorted(b for i, b in enumerate(batches) if i not in kept)
    assert len(sent_before) + len(sent_after) == len(batches) + in_flight
    with db.connect() as conn:
        calls = conn.execute(sa.text("SELECT ok, tokens_in, document_id FROM model_calls ORDER BY id")).all()
        events = conn.execute(sa.text("SELECT outcome, chunk_count FROM ingestion_events")).all()
        leftovers = conn.execute(
            sa.text("SELECT (SELECT count(*) FROM embedded_batches), (SELECT count(*) FROM stored_files)")
        ).one()
    # Every request that was answered is logged, by whichever worker received the answer.
    assert len(calls) == len(batches) and all(c.ok and c.tokens_in > 0 for c in calls)
    # The dead worker's calls too: they paid for batches of the document stored.
    assert {c.document_id for c in calls} == {job.document_id}
    assert events == [("ingested", 40)]
    assert tuple(leftovers) == (0, 1)  # no paid batches left; the bytes stay as the document's original


def test_two_workers_and_two_app_processes_run_each_job_once(
    app: Console, workers: Workers, db: Engine, fake: FakeOpenAI, env: dict[str, str], tmp_path: Path
) -> None:
    # Five batches a file, a quarter of a second each: every job shows its progress for a while.
    fake.request_delay_s = 0.25
    folder = tmp_path / "upload"
    folder.mkdir()
    for topic in ("north", "south", "east", "west"):
        (folder / f"{topic}.txt").write_text(long_text(topic, 20), encoding="utf-8")
    (folder / "west copy.txt").write_bytes((folder / "west.txt").read_bytes())
    workers.start(2)

    def observe() -> tuple[list[JobView], list[Any]]:
        """What the app shows (this process) and which worker runs which queue job."""
        with db.connect() as conn:
            query = "SELECT id, status, worker_id FROM procrastinate_jobs WHERE task_name = 'ingest_file'"
            queue = list(conn.execute(sa.text(query)).all())
        return job_views(app.engine, app.kb, hours=1), queue

    with Sampler(observe) as seen:
        # Another app process queues the files and returns; the workers take them from there.
        queued = run_rag(env, "ingest", "--no-wait", str(folder), name="kc-app-cli")
        assert queued.returncode == 0, queued.stderr
        assert queued.stdout == "queued 5 files (jobs 1-5)\n"
        ended = wait_until(lambda: all_ended(db, 5), what="the five jobs to end")

    assert [(j.filename, j.state, j.attempts) for j in ended] == [
        ("east.txt", "ingested", 1),
        ("north.txt", "ingested", 1),
        ("south.txt", "ingested", 1),
        ("west copy.txt", "ingested", 1),  # queued first: the same bytes as the next one
        ("west.txt", "duplicate", 1),
    ]
    assert len({j.queue_job_id for j in ended}) == 5
    runners: dict[int, set[int]] = {}
    for _, queue in seen.results:
        for q in queue:
            if q.status == "doing":
                runners.setdefault(q.id, set()).add(q.worker_id)
    assert set(runners) <= {j.queue_job_id for j in ended}
    assert all(len(w) == 1 for w in runners.values())  # no job ever changed hands
    assert len(set().union(*runners.values())) == 2  # both workers took jobs
    # This process saw the other processes' work as it happened: jobs part-way through embedding.
    partway = {
        (v.filename, v.batches_done) for views, _ in seen.results for v in views if v.state == "embedding"
    }
    assert any(0 < done < 5 for _, done in partway), partway

    listed = run_rag(env, "documents", "--json", name="kc-app-list")
    assert listed.returncode == 0, listed.stderr
    docs = json.loads(listed.stdout)
    assert sorted((d["filename"], d["chunk_count"]) for d in docs) == [
        ("east.txt", 20), ("north.txt", 20), ("south.txt", 20), ("west copy.txt", 20)
    ]  # fmt: skip
    sent = embedding_inputs(fake)
    assert len(sent) == len(set(sent)) == 4 * 5  # every batch of every distinct file, once
    assert scalar(db, "SELECT count(*) FROM ingestion_events") == 5


CONTROL = "kc-control"
PROBE = sa.text(
    """
    SELECT
      (SELECT coalesce(json_agg(json_build_object('state', state, 'done', batches_done, 'total', batches_total)
                                ORDER BY id), '[]') FROM ingestion_jobs) AS jobs,
      (SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = :name) AS connections,
      (SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = :name
          AND state LIKE 'idle in transaction%' AND clock_timestamp() - state_change > interval '400 ms') AS idle_in_transaction,
      (SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE a.datname = current_database() AND a.application_name = :name AND l.locktype = 'advisory'
          AND a.state = 'idle') AS advisory_locks
    """
)


def probe(db: Engine, name: str) -> Any:
    """One moment of the jobs and of process `name`'s connections: how many, how many sit in an
    open transaction without a statement running, and how many hold advisory locks between
    transactions (session locks; a transaction's own, such as the one on a file name while a
    document is stored, end with it)."""
    with db.connect() as conn:
        return conn.execute(PROBE, {"name": name}).one()


def holds_connection_idle(sample: Any) -> bool:
    return bool(sample.idle_in_transaction or sample.advisory_locks)


def test_a_job_holds_a_connection_only_while_it_talks_to_the_database(
    app: Console, workers: Workers, db: Engine, fake: FakeOpenAI, env: dict[str, str]
) -> None:
    fake.request_delay_s = 0.5  # each embedding request: half a second with no database work
    enqueue(app, [NewFile(f"{t}.txt", long_text(t, 24).encode()) for t in ("left", "right")], user=ADMIN)
    # One pooled connection for the worker's two jobs at once: a job that kept it while waiting
    # for the model would stall the other until it ended.
    [worker] = workers.start(1, concurrency=2, DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0")
    name = workers.name(workers.procs.index(worker))
    with Sampler(lambda: probe(db, name)) as seen:
        wait_until(lambda: all_ended(db, 2), what="both jobs to end")
    both_embedding = [
        s
        for s in seen.results
        if len(s.jobs) == 2 and all(j["state"] == "embedding" and 0 < j["done"] < j["total"] for j in s.jobs)
    ]
    assert len(both_embedding) >= 5, [s.jobs for s in seen.results]
    # The probe sees the worker (its connections are there), and never one kept idle by a job.
    assert all(s.connections >= 1 for s in seen.results)
    assert not [s for s in seen.results if holds_connection_idle(s)]
    # At most the SQLAlchemy pool's one connection and procrastinate's pool (concurrency + 2).
    assert max(s.connections for s in seen.results) <= 1 + 2 + 2
    assert [j.state for j in jobs(db)] == ["ingested", "ingested"]

    # The probe catches a process that keeps a connection while waiting for the model: an
    # ingestion outside the queue holds a content lock on its connection from start to end.
    control = open_app(env, name=CONTROL)
    try:
        with ThreadPoolExecutor(1) as pool, Sampler(lambda: probe(db, CONTROL)) as watched:
            data = long_text("control", 8).encode()
            result = pool.submit(ingest_file, control, "control.txt", data, user=ADMIN).result(timeout=60)
    finally:
        control.engine.dispose()
    assert result.outcome == "ingested", result.message
    assert any(s.advisory_locks and s.connections for s in watched.results)
    # And one that leaves a transaction open while it waits.
    idle = sa.create_engine(with_application_name(env["DATABASE_URL"], CONTROL), poolclass=sa.NullPool)
    try:
        with idle.begin() as conn:
            conn.execute(sa.text("SELECT 1"))
            wait_until(lambda: holds_connection_idle(probe(db, CONTROL)), what="the open transaction to show")
    finally:
        idle.dispose()
