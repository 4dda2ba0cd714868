"""Ingestion under faults: concurrent uploads of one file, and a database session killed mid-store."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from rag.ingest.pipeline import IngestResult, ingest_file
from rag.providers.embedder import EmbeddingBatch
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder

POLICY = (
    "# Returns\n\n"
    + " ".join(f"Rule {i}: opened headphones can be returned within 14 days of delivery." for i in range(40))
).encode()


class SlowEmbedder(HashEmbedder):
    """Takes its time, like a real API, so that concurrent uploads overlap."""

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        time.sleep(0.05)
        return super().embed(texts)


def counts(console: Any) -> tuple[int, int]:
    with console.engine.connect() as conn:
        return (
            conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one(),
            conn.execute(sa.text("SELECT count(*) FROM chunks")).scalar_one(),
        )


def test_eight_concurrent_uploads_of_one_file_make_one_document_embedded_once(
    make_console: ConsoleFactory,
) -> None:
    embedder = SlowEmbedder()
    console = make_console(embedder=embedder, CHUNK_TOKENS="60", CHUNK_OVERLAP="10", EMBEDDING_BATCH_SIZE="4")
    start = threading.Barrier(8)

    def upload(i: int) -> IngestResult:
        start.wait()
        return ingest_file(console, f"policy-{i}.md", POLICY, user=f"agent{i}")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(upload, range(8)))

    assert sorted(r.outcome for r in results) == ["duplicate"] * 7 + ["ingested"]
    [stored] = [r for r in results if r.outcome == "ingested"]
    assert {r.document_id for r in results} == {stored.document_id}
    assert counts(console) == (1, stored.chunk_count)
    # One pass of embedding: every chunk sent once, not eight times.
    assert sum(len(batch) for batch in embedder.calls) == stored.chunk_count


def test_a_session_killed_while_storing_leaves_nothing_and_a_retry_succeeds(
    make_console: ConsoleFactory, database_url: str
) -> None:
    console = make_console(CHUNK_TOKENS="60", CHUNK_OVERLAP="10")
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    killed: list[int] = []

    def kill_before_chunks(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        # The document row is inserted in this transaction; now, before its chunks are copied in,
        # its session dies.
        if statement.startswith("INSERT INTO documents") and not killed:
            pid = cursor.connection.info.backend_pid
            with admin.connect() as other:
                assert other.execute(sa.text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid}).scalar()
            killed.append(pid)

    event.listen(console.engine, "after_cursor_execute", kill_before_chunks)
    try:
        failed = ingest_file(console, "policy.md", POLICY, user="ana")
    finally:
        event.remove(console.engine, "after_cursor_execute", kill_before_chunks)
        admin.dispose()

    assert killed, "the store never reached the chunk insert"
    assert failed.outcome == "failed" and "nothing was stored" in failed.message
    assert counts(console) == (0, 0)
    with console.engine.connect() as conn:
        events = conn.execute(sa.text("SELECT outcome, reason FROM ingestion_events")).all()
        assert [tuple(e) for e in events] == [("failed", failed.message)]
        # The killed session's advisory lock went with it: nothing is left locked.
        assert (
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar()
            == 0
        )

    retried = ingest_file(console, "policy.md", POLICY, user="ana")
    assert retried.outcome == "ingested", retried.message
    assert counts(console) == (1, retried.chunk_count)


def test_the_lock_is_released_after_every_outcome(make_console: ConsoleFactory) -> None:
    console = make_console(
        embedder=HashEmbedder(fail_on_call=1),
        CHUNK_TOKENS="60",
        CHUNK_OVERLAP="10",
        EMBEDDING_RETRY_ATTEMPTS="1",
    )
    assert ingest_file(console, "policy.md", POLICY, user="ana").outcome == "failed"
    assert ingest_file(console, "empty.txt", b"", user="ana").outcome == "rejected"
    assert ingest_file(console, "policy.md", POLICY, user="ana").outcome == "ingested"
    assert ingest_file(console, "again.md", POLICY, user="ana").outcome == "duplicate"
    with console.engine.connect() as conn:
        assert (
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar()
            == 0
        )
