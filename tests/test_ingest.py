"""Ingestion against a real PostgreSQL: one transaction per document, dedup by content hash."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.engine import Engine

from db.models import Chunk as ChunkRow
from rag.ingest.pipeline import ingest_file
from rag.library.documents import NewDocument, delete_document, list_documents, store_document
from rag.parsing import parse_document
from rag.text.chunking import chunk_sections
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder
from tests.sample_files import make_pdf

POLICY = (
    "# Returns\n\n"
    + " ".join(f"Rule {i}: opened headphones can be returned within 14 days of delivery." for i in range(40))
    + "\n\n# Shipping\n\nParcels to the EU take three to five business days."
).encode()


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("documents", "chunks", "ingestion_events", "model_calls")
        }


def outcomes(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.text("SELECT outcome, reason FROM ingestion_events ORDER BY id"))
        ]


def test_a_document_is_stored_with_all_its_chunks(make_console: ConsoleFactory) -> None:
    console = make_console(CHUNK_TOKENS="60", CHUNK_OVERLAP="10", EMBEDDING_BATCH_SIZE="4")
    fractions: list[float] = []
    result = ingest_file(console, "policy.md", POLICY, user="ana", progress=lambda f, _s: fractions.append(f))
    assert result.outcome == "ingested" and result.chunk_count > 8
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    [doc] = list_documents(console.engine, console.kb)
    assert (doc.title, doc.kind, doc.uploaded_by, doc.chunk_count) == (
        "Returns",
        "markdown",
        "ana",
        result.chunk_count,
    )
    assert doc.size_bytes == len(POLICY) and doc.token_count == result.token_count
    with console.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT position, heading, token_count, vector_dims(embedding) FROM chunks ORDER BY position"
            )
        ).all()
        calls = conn.execute(sa.text("SELECT purpose, tokens_in, document_id, ok FROM model_calls")).all()
    assert [r.position for r in rows] == list(range(result.chunk_count))
    assert all(r.token_count <= 60 and r[3] == 64 for r in rows)
    assert rows[0].heading == "Returns"
    # Embedded in batches of 4, each call logged against the document.
    assert len(calls) == -(-result.chunk_count // 4)
    assert all(c.purpose == "ingest_embedding" and c.document_id == doc.id and c.ok for c in calls)


def test_the_same_bytes_twice_are_one_document(make_console: ConsoleFactory) -> None:
    console = make_console()
    first = ingest_file(console, "policy.md", POLICY, user="ana")
    again = ingest_file(console, "copy-of-policy.md", POLICY, user="bo")
    assert again.outcome == "duplicate" and again.document_id == first.document_id
    assert "Returns" in again.message
    assert counts(console.engine)["documents"] == 1
    assert [o for o, _ in outcomes(console.engine)] == ["ingested", "duplicate"]


def test_a_new_version_of_a_file_replaces_the_old_one(make_console: ConsoleFactory) -> None:
    console = make_console()
    first = ingest_file(console, "policy.md", POLICY, user="ana")
    newer = ingest_file(console, "policy.md", POLICY.replace(b"14 days", b"30 days"), user="bo")
    assert newer.outcome == "replaced" and newer.document_id == first.document_id
    [doc] = list_documents(console.engine, console.kb)
    assert (doc.version, doc.uploaded_by) == (2, "bo")
    with console.engine.connect() as conn:
        texts = conn.execute(sa.text("SELECT text FROM chunks")).scalars().all()
    assert texts and all("14 days" not in t for t in texts) and any("30 days" in t for t in texts)


def test_an_embedding_failure_mid_document_stores_nothing_and_a_retry_succeeds(
    make_console: ConsoleFactory,
) -> None:
    embedder = HashEmbedder(fail_on_call=3)
    console = make_console(
        embedder=embedder,
        CHUNK_TOKENS="60",
        CHUNK_OVERLAP="10",
        EMBEDDING_BATCH_SIZE="4",
        EMBEDDING_CONCURRENCY="1",
        EMBEDDING_RETRY_ATTEMPTS="1",  # retries are tested in test_ingest_embedding.py
    )
    failed = ingest_file(console, "policy.md", POLICY, user="ana")
    assert failed.outcome == "failed" and "injected" in failed.message
    c = counts(console.engine)
    assert (c["documents"], c["chunks"]) == (0, 0)
    with console.engine.connect() as conn:
        ok = conn.execute(sa.text("SELECT ok FROM model_calls ORDER BY id")).scalars().all()
    assert ok == [True, True, False]  # the calls made before the failure are still accounted for
    retried = ingest_file(console, "policy.md", POLICY, user="ana")
    assert retried.outcome == "ingested"
    assert counts(console.engine)["documents"] == 1


def test_the_same_upload_retried_resumes_at_the_batch_that_failed(make_console: ConsoleFactory) -> None:
    embedder = HashEmbedder(fail_on_call=3)
    console = make_console(
        embedder=embedder, CHUNK_TOKENS="60", CHUNK_OVERLAP="10", EMBEDDING_BATCH_SIZE="4",
        EMBEDDING_CONCURRENCY="1", EMBEDDING_RETRY_ATTEMPTS="1",
    )  # fmt: skip
    assert ingest_file(console, "policy.md", POLICY, user="ana").outcome == "failed"
    sent_before = len(embedder.calls)
    retried = ingest_file(console, "policy.md", POLICY, user="ana")
    assert retried.outcome == "ingested"
    batches = -(-retried.chunk_count // 4)
    assert sent_before == 3 and len(embedder.calls) - sent_before == batches - 2
    with console.engine.connect() as conn:
        texts = conn.execute(sa.text("SELECT text FROM chunks ORDER BY position")).scalars().all()
        stored = conn.execute(sa.select(ChunkRow.embedding).order_by(ChunkRow.position)).scalars().all()
    # Resumed vectors sit where they belong: the same as embedding every chunk afresh.
    fresh = HashEmbedder().embed(list(texts)).vectors
    np.testing.assert_allclose(np.vstack([np.asarray(v, dtype=np.float32) for v in stored]), fresh, rtol=1e-6)


def test_a_database_failure_mid_insert_leaves_no_document(make_console: ConsoleFactory) -> None:
    console = make_console(CHUNK_TOKENS="60", CHUNK_OVERLAP="10")
    parsed = parse_document("policy.md", POLICY)
    chunks = chunk_sections(parsed.sections, max_tokens=60, overlap=10)
    vectors = console.embedder.embed([c.text for c in chunks]).vectors
    # Inject a failure inside the transaction, after the document row is written: the server
    # refuses the last chunk's vector (pgvector does not allow NaN).
    vectors[-1, 0] = np.nan
    doc = NewDocument("Returns", "policy.md", "markdown", "f" * 64, len(POLICY), [], "ana")
    with pytest.raises(sqlalchemy.exc.DataError, match="NaN not allowed"), console.engine.begin() as conn:
        store_document(conn, console.kb, doc, chunks, vectors)
    c = counts(console.engine)
    assert (c["documents"], c["chunks"]) == (0, 0)


def test_rejected_files_store_nothing_and_say_why(make_console: ConsoleFactory) -> None:
    console = make_console(MAX_UPLOAD_MB="0.001")
    too_big = ingest_file(console, "big.txt", b"word " * 1000, user="ana")
    assert too_big.outcome == "rejected" and "limit is 0.001 MB" in too_big.message
    binary = ingest_file(console, "notes.txt", bytes(range(256)) * 2, user="ana")
    assert binary.outcome == "rejected"
    assert counts(console.engine)["documents"] == 0
    assert [o for o, _ in outcomes(console.engine)] == ["rejected", "rejected"]


def test_a_file_just_over_the_limit_is_not_shown_as_the_limit(make_console: ConsoleFactory) -> None:
    console = make_console(MAX_UPLOAD_MB="1")
    result = ingest_file(console, "big.txt", b"w" * (1_048_576 + 1), user="ana")
    assert result.outcome == "rejected"
    assert result.message == "The file is 1.000001 MB; the limit is 1 MB."
    assert all(reason for _, reason in outcomes(console.engine))


def test_a_pdf_keeps_its_page_numbers(make_console: ConsoleFactory) -> None:
    console = make_console()
    pdf = make_pdf(["Refunds take five business days.", "Shipping to the EU takes three days."])
    assert ingest_file(console, "guide.pdf", pdf, user="ana").outcome == "ingested"
    with console.engine.connect() as conn:
        pages = conn.execute(sa.text("SELECT page_start, page_end FROM chunks")).all()
    assert pages == [(1, 2)]


def test_deleting_a_document_deletes_its_chunks(make_console: ConsoleFactory) -> None:
    console = make_console()
    kept = ingest_file(console, "policy.md", POLICY, user="ana")
    gone = ingest_file(console, "other.md", b"# Other\n\nSomething else entirely.", user="ana")
    assert gone.document_id is not None and kept.document_id is not None
    assert delete_document(console.engine, console.kb, gone.document_id)
    assert not delete_document(console.engine, console.kb, gone.document_id)
    with console.engine.connect() as conn:
        owners = set(conn.execute(sa.text("SELECT document_id FROM chunks")).scalars())
    assert owners == {kept.document_id}


def test_vectors_are_stored_as_embedded(make_console: ConsoleFactory) -> None:
    console = make_console()
    ingest_file(console, "other.md", b"# Other\n\nShipping to the EU takes three days.", user="ana")
    with console.engine.connect() as conn:
        text, stored = conn.execute(sa.text("SELECT text, embedding::text FROM chunks")).one()
    expected = console.embedder.embed([text]).vectors[0]
    assert np.allclose(np.array(stored.strip("[]").split(","), dtype=np.float32), expected, atol=1e-6)
