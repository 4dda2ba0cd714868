"""One document per (knowledge base, file name): concurrent uploads of a name become its versions."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from db.engine import make_engine
from db.migrate import alembic_config
from rag.ingest.pipeline import IngestResult, ingest_file
from rag.library.documents import list_documents
from tests.conftest import ConsoleFactory

BEFORE = "0014_lexeme_stats"


def test_two_uploads_of_one_name_at_once_become_versions_1_and_2(make_console: ConsoleFactory) -> None:
    console = make_console()
    both_looked = threading.Barrier(2, timeout=2)

    # Each upload waits, once it has looked for the name's document, until the other has looked
    # too: without serialising on the name, both find none and insert a version 1.
    @sa.event.listens_for(console.engine, "after_cursor_execute")
    def hold_after_looking(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("SELECT documents.id, documents.version"):
            # A broken barrier: the other upload is waiting for this one to commit.
            with contextlib.suppress(threading.BrokenBarrierError):
                both_looked.wait()

    files = [b"# Refunds\n\nRefunds take 14 days.", b"# Refunds\n\nRefunds take 30 days."]
    with ThreadPoolExecutor(2) as pool:
        results: list[IngestResult] = list(
            pool.map(lambda data: ingest_file(console, "refunds.md", data, user="ana"), files)
        )

    assert sorted(r.outcome for r in results) == ["ingested", "replaced"]
    assert "version 2 replaces" in next(r.message for r in results if r.outcome == "replaced")
    documents = list_documents(console.engine, console.kb)
    assert [(d.filename, d.version) for d in documents] == [("refunds.md", 2)]
    with console.engine.connect() as conn:
        chunk_owners = conn.execute(sa.text("SELECT DISTINCT document_id FROM chunks")).scalars().all()
    assert chunk_owners == [documents[0].id]
    # The next upload replaces that one document.
    third = ingest_file(console, "refunds.md", b"# Refunds\n\nRefunds take 60 days.", user="bo")
    assert (third.outcome, third.document_id) == ("replaced", documents[0].id)
    assert [d.version for d in list_documents(console.engine, console.kb)] == [3]


def test_the_database_refuses_a_second_document_of_one_name(make_console: ConsoleFactory) -> None:
    console = make_console()
    ingest_file(console, "a.md", b"# A\n\nOne.", user="ana")
    with (
        pytest.raises(sa.exc.IntegrityError, match="uq_documents_kb_filename"),
        console.engine.begin() as conn,
    ):
        conn.execute(
            sa.text(
                "INSERT INTO documents (knowledge_base_id, title, filename, kind, content_hash, "
                "size_bytes, chunk_count, token_count, uploaded_by) "
                "VALUES (:kb, 'A', 'a.md', 'markdown', 'other', 1, 0, 0, 'bo')"
            ),
            {"kb": console.kb.id},
        )


def test_the_migration_keeps_the_newest_of_duplicate_names(
    make_console: ConsoleFactory, database_url: str
) -> None:
    console = make_console()
    engine = make_engine(database_url)
    with engine.connect() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, BEFORE)
        conn.commit()
    # As the race left them: two version 1s of one name, one replaced later (version 2, newest).
    ingest_file(console, "refunds.md", b"# Refunds\n\nRefunds take 14 days.", user="ana")
    ingest_file(console, "other.md", b"# Other\n\nShipping takes three days.", user="ana")
    with engine.begin() as conn:
        older = _copy_document(conn, "refunds.md", content_hash="b" * 64, updated="now() - interval '1 day'")
        conn.execute(
            sa.text(
                "INSERT INTO ingestion_events (knowledge_base_id, filename, size_bytes, outcome, "
                "document_id, duration_ms, uploaded_by) VALUES (:kb, 'refunds.md', 1, 'ingested', :d, 1, 'ana')"
            ),
            {"kb": console.kb.id, "d": older},
        )
        kept = conn.execute(
            sa.text("SELECT id FROM documents WHERE filename = 'refunds.md' AND id <> :d"), {"d": older}
        ).scalar_one()
        conn.execute(sa.text("UPDATE documents SET version = 2 WHERE id = :d"), {"d": kept})
        oldest = _copy_document(conn, "other.md", content_hash="c" * 64, updated="now() - interval '2 day'")

    with engine.connect() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()

    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, filename, version FROM documents ORDER BY filename")).all()
        event_owner = conn.execute(
            sa.text("SELECT document_id FROM ingestion_events WHERE uploaded_by = 'ana' AND duration_ms = 1")
        ).scalar_one()
        orphans = conn.execute(
            sa.text("SELECT count(*) FROM chunks WHERE document_id IN (:a, :b)"), {"a": older, "b": oldest}
        ).scalar_one()
        counted = conn.execute(
            sa.text("SELECT chunk_count FROM knowledge_bases WHERE id = :kb"), {"kb": console.kb.id}
        ).scalar_one()
        chunks = conn.execute(sa.text("SELECT count(*) FROM chunks")).scalar_one()
    engine.dispose()
    other = next(r for r in rows if r.filename == "other.md")
    assert [(r.filename, r.version) for r in rows] == [("other.md", 2), ("refunds.md", 2)]
    assert kept in [r.id for r in rows] and other.id != oldest
    assert (event_owner, orphans, counted) == (kept, 0, chunks)


def _copy_document(conn: sa.Connection, filename: str, *, content_hash: str, updated: str) -> int:
    """A second document of `filename` with the first one's chunks, last updated at `updated`."""
    new_id: int = conn.execute(
        sa.text(
            "INSERT INTO documents (knowledge_base_id, title, filename, kind, content_hash, size_bytes, "
            "chunk_count, token_count, uploaded_by, created_at, updated_at) "
            f"SELECT knowledge_base_id, title, filename, kind, :h, size_bytes, chunk_count, token_count, "
            f"uploaded_by, {updated}, {updated} FROM documents WHERE filename = :f RETURNING id"
        ),
        {"h": content_hash, "f": filename},
    ).scalar_one()
    conn.execute(
        sa.text(
            "INSERT INTO chunks (document_id, knowledge_base_id, position, text, token_count, embedding) "
            "SELECT :d, knowledge_base_id, position, text, token_count, embedding FROM chunks "
            "WHERE document_id = (SELECT min(id) FROM documents WHERE filename = :f)"
        ),
        {"d": new_id, "f": filename},
    )
    return new_id
