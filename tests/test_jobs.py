"""Ingestion jobs run by real worker processes (`python -m rag worker`) on a real PostgreSQL, with
embeddings from the fake OpenAI server: what each job ends as, what the database holds, and how
many requests the model API saw."""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Document
from rag.console import Console
from rag.ingest.folder_sync import sync_folder
from rag.ingest.job_run import run_job
from rag.ingest.jobs import NewFile, create_jobs, job_views
from rag.ingest.queue import cancel, enqueue, retry
from rag.ingest.stored_files import load_file, release_file, release_unneeded_files, store_file
from rag.library.documents import delete_document
from rag.library.knowledge_bases import open_knowledge_base
from tests.fake_openai import FakeOpenAI, serve
from tests.workers import (
    BATCH,
    Workers,
    all_ended,
    app_console,
    embedding_inputs,
    jobs,
    library,
    long_text,
    observer,
    openai_env,
    scalar,
    wait_until,
    worker_pool,
)

fake = pytest.fixture(serve, name="fake")
env = pytest.fixture(openai_env, name="env")
app = pytest.fixture(app_console, name="app")
workers = pytest.fixture(worker_pool, name="workers")
db = pytest.fixture(observer, name="db")

ADMIN = "admin"


def text_file(topic: str, paragraphs: int) -> NewFile:
    return NewFile(f"{topic}.txt", long_text(topic, paragraphs).encode())


def test_a_worker_stores_every_queued_file(
    app: Console, workers: Workers, db: Engine, fake: FakeOpenAI
) -> None:
    files = [text_file("greenhouse", 10), text_file("oven", 6), text_file("airlock", 3)]
    ids = enqueue(app, files, user=ADMIN)
    queued = jobs(db)
    assert [(j.id, j.state, j.queue_status) for j in queued] == [(i, "queued", "todo") for i in ids]
    assert scalar(db, "SELECT count(*) FROM stored_files") == 3

    workers.start(1, concurrency=2)
    ended = wait_until(lambda: all_ended(db, 3), what="the three jobs to end")

    for job, paragraphs in zip(ended, (10, 6, 3), strict=True):
        assert job.state == "ingested", job.message
        assert (job.chunk_count, job.attempts) == (paragraphs, 1)
        assert job.token_count > 0 and job.document_id is not None
        assert job.message.startswith(f"{paragraphs} chunks, ")
        assert job.queue_status is None  # procrastinate deletes the jobs that succeeded
    stored = library(db)
    assert [(d.filename, d.chunk_count, d.stored) for d in stored] == [
        ("airlock.txt", 3, 3),
        ("greenhouse.txt", 10, 10),
        ("oven.txt", 6, 6),
    ]
    assert {j.document_id for j in ended} == {d.id for d in stored}
    # The bytes stay as the documents' originals; the paid batches are released once stored.
    assert scalar(db, "SELECT count(*) FROM stored_files") == 3
    assert scalar(db, "SELECT count(*) FROM embedded_batches") == 0
    batches = sum(math.ceil(j.chunk_count / BATCH) for j in ended)
    assert len(embedding_inputs(fake)) == batches == 3 + 2 + 1
    with db.connect() as conn:
        calls = conn.execute(sa.text("SELECT document_id, ok, tokens_in, user_name FROM model_calls")).all()
        events = conn.execute(sa.text("SELECT filename, outcome, chunk_count FROM ingestion_events")).all()
    assert len(calls) == batches
    assert all(c.ok and c.tokens_in > 0 and c.user_name == ADMIN for c in calls)
    assert {c.document_id for c in calls} == {d.id for d in stored}
    assert sorted(events) == [
        ("airlock.txt", "ingested", 3),
        ("greenhouse.txt", "ingested", 10),
        ("oven.txt", "ingested", 6),
    ]
    assert [v.state for v in job_views(app.engine, app.kb, ids=ids)] == ["ingested"] * 3


def test_six_uploads_of_one_file_at_once_embed_it_once(
    app: Console, workers: Workers, db: Engine, fake: FakeOpenAI
) -> None:
    fake.request_delay_s = 0.2  # the first job is still embedding while the others are taken
    workers.start(2, concurrency=2)
    data = long_text("manual", 12).encode()

    def upload(n: int) -> list[int]:
        return enqueue(app, [NewFile("manual.txt", data)], user=f"user-{n}")

    with ThreadPoolExecutor(6) as pool:
        ids = [job_id for batch in pool.map(upload, range(6)) for job_id in batch]
    ended = wait_until(lambda: all_ended(db, 6), what="the six jobs to end")

    assert sorted(j.id for j in ended) == sorted(ids) and len({j.queue_job_id for j in ended}) == 6
    assert sorted(j.state for j in ended) == ["duplicate"] * 5 + ["ingested"]
    [stored] = library(db)
    assert (stored.chunk_count, stored.stored) == (12, 12)
    assert {j.document_id for j in ended} == {stored.id} and {j.attempts for j in ended} == {1}
    assert all("already in the library" in j.message for j in ended if j.state == "duplicate")
    batches = math.ceil(12 / BATCH)
    assert len(embedding_inputs(fake)) == batches == scalar(db, "SELECT count(*) FROM model_calls")
    assert scalar(db, "SELECT count(*) FROM ingestion_events WHERE outcome = 'duplicate'") == 5
    assert scalar(db, "SELECT count(*) FROM stored_files") == 1  # the document's original, once


def test_a_queued_job_cancelled_before_any_worker_runs_never_runs(
    app: Console, workers: Workers, db: Engine, fake: FakeOpenAI
) -> None:
    _, cancelled_id = enqueue(app, [text_file("kept", 3), text_file("dropped", 3)], user=ADMIN)
    assert cancel(app, cancelled_id) == "cancelled"
    assert cancel(app, cancelled_id) is None  # already ended: nothing to do
    assert jobs(db)[1].queue_status is None  # gone from the queue, not only marked

    workers.start(1)
    kept, cancelled = wait_until(lambda: all_ended(db, 2), what="the kept job to end")
    assert kept.state == "ingested"
    assert (cancelled.state, cancelled.attempts, cancelled.document_id) == ("cancelled", 0, None)
    assert cancelled.message == "Cancelled before it started."
    assert [d.filename for d in library(db)] == ["kept.txt"]
    assert not any("dropped" in text for batch in embedding_inputs(fake) for text in batch)
    assert scalar(db, "SELECT count(*) FROM ingestion_events WHERE filename = 'dropped.txt'") == 0


def test_a_running_job_cancelled_mid_embedding_stores_nothing_and_resumes_on_retry(
    app: Console, workers: Workers, db: Engine, fake: FakeOpenAI
) -> None:
    fake.request_delay_s = 0.3
    [job_id] = enqueue(app, [text_file("cargo", 40)], user=ADMIN)
    workers.start(1)
    wait_until(
        lambda: (job := jobs(db)[0]).state == "embedding" and job.batches_done >= 1, what="a batch embedded"
    )
    assert cancel(app, job_id) == "embedding"  # asked to stop at its next step
    [job] = wait_until(lambda: all_ended(db, 1), what="the job to stop")

    assert (job.state, job.document_id) == ("cancelled", None)
    assert job.message == "Cancelled before it was stored; nothing was stored."
    assert (
        scalar(db, "SELECT count(*) FROM documents") == 0 and scalar(db, "SELECT count(*) FROM chunks") == 0
    )
    sent = len(embedding_inputs(fake))
    assert 1 <= sent < 10
    # Every request made before it stopped is logged, and the upload log says how it ended.
    assert scalar(db, "SELECT count(*) FROM model_calls WHERE ok AND document_id IS NULL") == sent
    with db.connect() as conn:
        events = conn.execute(sa.text("SELECT outcome, reason, document_id FROM ingestion_events")).all()
    assert events == [("cancelled", job.message, None)]
    # Its bytes and the batches it paid for are kept for a retry (all but the one in flight when
    # it stopped: its answer came after the job had given up).
    assert scalar(db, "SELECT count(*) FROM stored_files") == 1
    lost = sent - scalar(db, "SELECT count(*) FROM embedded_batches")
    assert lost in (0, 1)

    fake.request_delay_s = 0.0
    assert retry(app, job_id)
    [job] = wait_until(lambda: all_ended(db, 1), what="the retried job to end")
    assert (job.state, job.chunk_count, job.attempts) == ("ingested", 40, 2)
    assert len(embedding_inputs(fake)) == 10 + lost  # the retry sent only the batches not kept
    assert scalar(db, "SELECT count(*) FROM model_calls") == 10 + lost
    assert scalar(db, "SELECT count(*) FROM stored_files") == 1  # now the document's original


def test_a_failed_job_is_retried_once_the_model_api_works_again(
    app: Console, workers: Workers, db: Engine, fake: FakeOpenAI
) -> None:
    fake.fail_next(400, message="Input rejected by the fake server.")
    [job_id] = enqueue(app, [text_file("pump", 6)], user=ADMIN)
    workers.start(1)
    [job] = wait_until(lambda: all_ended(db, 1), what="the job to fail")
    assert (job.state, job.document_id) == ("failed", None)
    assert job.message == "Embedding failed: OpenAI rejected the request: Input rejected by the fake server."
    assert not retry(app, job_id + 1)  # no such job
    with db.connect() as conn:
        calls = conn.execute(sa.text("SELECT ok, error_code FROM model_calls")).all()
        events = conn.execute(sa.text("SELECT outcome, reason FROM ingestion_events")).all()
    assert calls == [(False, "bad_request")]
    assert events == [("failed", job.message)]
    assert [v.retryable for v in job_views(app.engine, app.kb, ids=[job_id])] == [True]

    assert retry(app, job_id)
    [job] = wait_until(lambda: all_ended(db, 1), what="the retried job to end")
    assert (job.state, job.attempts) == ("ingested", 2) and job.message.startswith("6 chunks, ")
    assert [(d.filename, d.stored) for d in library(db)] == [("pump.txt", 6)]
    assert not retry(app, job_id)  # an ingested job is not retried
    assert scalar(db, "SELECT count(*) FROM stored_files") == 1  # now the document's original


def test_folder_sync_adds_replaces_and_removes_only_its_own_documents(
    app: Console, workers: Workers, db: Engine, fake: FakeOpenAI, tmp_path: Path
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    for topic in ("alpha", "beta", "gamma"):
        (folder / f"{topic}.txt").write_text(long_text(topic, 2), encoding="utf-8")
    enqueue(app, [text_file("handmade", 2)], user=ADMIN)  # uploaded by hand, outside the folder
    workers.start(1, concurrency=2)

    first = sync_folder(app, folder, user="sync")
    assert (first.added, first.changed, first.removed, first.unchanged) == (
        ["alpha.txt", "beta.txt", "gamma.txt"], [], [], 0
    )  # fmt: skip
    wait_until(lambda: all_ended(db, 4), what="the first sync's jobs to end")
    source = str(folder.resolve())
    assert [(d.filename, d.source) for d in library(db)] == [
        ("alpha.txt", source), ("beta.txt", source), ("gamma.txt", source), ("handmade.txt", None)
    ]  # fmt: skip
    beta_id = next(d.id for d in library(db) if d.filename == "beta.txt")

    (folder / "beta.txt").write_text(long_text("beta", 3), encoding="utf-8")
    (folder / "gamma.txt").unlink()
    second = sync_folder(app, folder, user="sync")
    assert (second.added, second.changed, second.removed, second.unchanged) == (
        [],
        ["beta.txt"],
        ["gamma.txt"],
        1,
    )
    assert len(second.job_ids) == 1  # the unchanged file is not queued again
    ended = wait_until(lambda: all_ended(db, 5), what="the changed file's job to end")
    assert (ended[-1].filename, ended[-1].state, ended[-1].document_id) == ("beta.txt", "replaced", beta_id)
    stored = [(d.filename, d.chunk_count, d.stored) for d in library(db)]
    assert stored == [("alpha.txt", 2, 2), ("beta.txt", 3, 3), ("handmade.txt", 2, 2)]
    assert scalar(db, "SELECT version FROM documents WHERE id = :id", id=beta_id) == 2

    third = sync_folder(app, folder, user="sync")
    assert (third.added, third.changed, third.removed, third.unchanged, third.job_ids) == ([], [], [], 2, [])
    delete_document(app.engine, app.kb, beta_id, user=ADMIN)  # removed by hand: the next sync brings it back
    assert sync_folder(app, folder, user="sync").added == ["beta.txt"]
    wait_until(lambda: all_ended(db, 6), what="the re-added file's job to end")
    assert [d.filename for d in library(db)] == ["alpha.txt", "beta.txt", "handmade.txt"]


def test_folder_sync_names_files_by_their_path_and_skips_what_waits_or_was_refused(
    app: Console, workers: Workers, db: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "shared"
    (folder / "hr").mkdir(parents=True)
    (folder / "it").mkdir()
    (folder / "hr" / "README.txt").write_text(long_text("holidays", 2), encoding="utf-8")
    (folder / "it" / "README.txt").write_text(long_text("laptops", 2), encoding="utf-8")
    (folder / "blank.txt").write_text("   \n", encoding="utf-8")  # no text: rejected
    first = sync_folder(app, folder, user="sync")
    assert first.added == ["blank.txt", "hr/README.txt", "it/README.txt"]
    again = sync_folder(app, folder, user="sync")  # no worker yet: the jobs still wait
    assert (again.added, again.changed, again.unchanged, again.job_ids) == ([], [], 3, [])
    workers.start(1, concurrency=2)
    ended = wait_until(lambda: all_ended(db, 3), what="the sync's jobs to end")
    assert sorted((v.filename, v.state) for v in ended) == [
        ("blank.txt", "rejected"), ("hr/README.txt", "ingested"), ("it/README.txt", "ingested")
    ]  # fmt: skip
    assert [d.filename for d in library(db)] == ["hr/README.txt", "it/README.txt"]
    third = sync_folder(app, folder, user="sync")  # the rejected file is not parsed again
    assert (third.added, third.unchanged, third.job_ids) == ([], 3, [])


def test_a_job_goes_into_its_own_knowledge_base_whichever_worker_runs_it(app: Console, db: Engine) -> None:
    other = replace(app, kb=open_knowledge_base(app.engine, "handbooks", app.embedder))
    [job_id] = create_jobs(other.engine, other.kb, [text_file("handbook", 2)], user=ADMIN)
    run_job(app, job_id)  # a worker opened on the default knowledge base
    with db.connect() as conn:
        kbs = conn.execute(
            sa.text("SELECT k.name FROM documents d JOIN knowledge_bases k ON k.id = d.knowledge_base_id")
        ).scalars()
        assert list(kbs) == ["handbooks"]


def waiting_for_locks(db: Engine, name: str) -> int:
    """How many of process `name`'s connections wait for a lock held by another transaction."""
    count: int = scalar(
        db,
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = :name AND wait_event_type = 'Lock'",
        name=name,
    )
    return count


def test_bytes_uploaded_again_as_their_last_job_ends_are_kept(app: Console, db: Engine) -> None:
    data = long_text("valve", 2).encode()
    [first] = create_jobs(app.engine, app.kb, [NewFile("valve.txt", data)], user=ADMIN)
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE ingestion_jobs SET state = 'ingested' WHERE id = :id"), {"id": first})
    content_hash = hashlib.sha256(data).hexdigest()
    with ThreadPoolExecutor(2) as pool:
        with db.begin() as gate:
            # Holds the upload between keeping the bytes and adding its job, as a slow one might be.
            gate.execute(sa.text("LOCK TABLE ingestion_jobs IN EXCLUSIVE MODE"))
            again = NewFile("valve again.txt", data)
            upload = pool.submit(create_jobs, app.engine, app.kb, [again], user=ADMIN)
            wait_until(lambda: waiting_for_locks(db, "kc-app") == 1, what="the upload to wait half-way")
            # Meanwhile the first job ends and lets go of the bytes no job seems to need.
            release = pool.submit(release_file, app.engine, content_hash)
            wait_until(
                lambda: release.done() or waiting_for_locks(db, "kc-app") == 2,
                what="the release to run or wait",
            )
        [second] = upload.result(timeout=30)
        release.result(timeout=30)
    assert load_file(app.engine, content_hash) == data  # the new job can still run
    assert [j.id for j in jobs(db)] == [first, second]


def test_two_uploads_of_the_same_files_in_another_order_both_succeed(app: Console, db: Engine) -> None:
    x, y = NewFile("x.txt", long_text("x", 2).encode()), NewFile("y.txt", long_text("y", 2).encode())
    with ThreadPoolExecutor(2) as pool:
        with db.begin() as gate:
            gate.execute(sa.text("LOCK TABLE ingestion_jobs IN EXCLUSIVE MODE"))
            one = pool.submit(create_jobs, app.engine, app.kb, [x, y], user="one")
            other = pool.submit(create_jobs, app.engine, app.kb, [y, x], user="other")
            wait_until(lambda: waiting_for_locks(db, "kc-app") == 2, what="both uploads to wait half-way")
        ids = one.result(timeout=30) + other.result(timeout=30)
    assert sorted(ids) == [j.id for j in jobs(db)] and len(ids) == 4
    assert scalar(db, "SELECT count(*) FROM stored_files") == 2


def test_a_documents_original_is_kept_until_it_is_replaced_or_deleted(app: Console, db: Engine) -> None:
    """An agent opens the original from a source; the nightly tidy drops it once no document is it."""
    with db.begin() as conn:
        for content_hash in ("a" * 64, "b" * 64):
            store_file(conn, content_hash, b"%PDF- original bytes")
        conn.execute(
            sa.insert(Document).values(knowledge_base_id=app.kb.id, title="Manual", filename="manual.pdf",
                                       kind="pdf", content_hash="a" * 64, size_bytes=20, chunk_count=0,
                                       token_count=0, uploaded_by=ADMIN)
        )  # fmt: skip
    release_file(app.engine, "a" * 64)
    release_file(app.engine, "b" * 64)  # no job, no document: dropped at once
    assert (
        load_file(app.engine, "a" * 64) == b"%PDF- original bytes" and load_file(app.engine, "b" * 64) is None
    )
    assert release_unneeded_files(app.engine) == 0
    with db.begin() as conn:  # a new version replaces the bytes
        conn.execute(sa.update(Document).values(content_hash="c" * 64, version=2))
    assert release_unneeded_files(app.engine) == 1 and load_file(app.engine, "a" * 64) is None
