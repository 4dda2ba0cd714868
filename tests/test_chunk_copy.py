"""Chunks stored with binary COPY: the same rows an INSERT stores, inside the caller's transaction."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.models import Chunk as ChunkRow
from db.models import Document
from rag.console import Console
from rag.library.documents import NewDocument, store_document
from rag.text.chunking import Chunk
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder

TEXTS = [
    "Plain text about refunds.",
    "Tabs\tand\nnew lines\r\nand a back\\slash, \\N and \\t literally",
    "Unicode: café, Ünïcödé, 日本語, emoji 🎧 and quotes ' \" `",
    "",
    "x" * 5000,
]
COLUMNS = "position, text, token_count, page_start, page_end, heading, embedding::text, tsv::text"


def chunks() -> list[Chunk]:
    return [
        Chunk(
            position=i,
            text=text,
            token_count=i * 7,
            page_start=None if i % 2 else i + 1,
            page_end=None if i % 2 else i + 2,
            heading=None if i == 1 else f"Heading\t{i} \\ ü",
            char_start=0,
            char_end=len(text),
        )
        for i, text in enumerate(TEXTS)
    ]


def vectors(dims: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    v = rng.standard_normal((len(TEXTS), dims)).astype(np.float32)
    # Exact float32 bits at the edges; the largest value still fits the half-precision index (65,504).
    v[0, :3] = [np.float32(1e-38), np.float32(65000.123), np.float32(-0.0)]
    return v


def new_doc(name: str) -> NewDocument:
    return NewDocument("Title", name, "text", name.ljust(64, "0")[:64], 10, [], "ana")


def stored(conn: Connection, document_id: int) -> list[tuple[object, ...]]:
    rows = conn.execute(sa.text(f"SELECT {COLUMNS} FROM chunks WHERE document_id = :d ORDER BY position"), {
        "d": document_id
    })  # fmt: skip
    return [tuple(r) for r in rows]


def insert_as_before(conn: Connection, console: Console, name: str, vecs: np.ndarray) -> int:
    """The INSERT the console used before COPY: the reference for identical rows."""
    doc_id: int = conn.execute(
        sa.insert(Document)
        .values(
            knowledge_base_id=console.kb.id, filename=name, title="Title", kind="text",
            content_hash=name.ljust(64, "1")[:64], size_bytes=10, chunk_count=len(TEXTS), token_count=0,
            flags=[], uploaded_by="ana",
        )
        .returning(Document.id)
    ).scalar_one()  # fmt: skip
    rows = [
        {
            "document_id": doc_id, "knowledge_base_id": console.kb.id, "position": c.position, "text": c.text,
            "token_count": c.token_count, "page_start": c.page_start, "page_end": c.page_end,
            "heading": c.heading, "embedding": v,
        }
        for c, v in zip(chunks(), vecs, strict=True)
    ]  # fmt: skip
    conn.execute(sa.insert(ChunkRow), rows)
    return doc_id


@pytest.mark.parametrize("dims", [64, 1536])
def test_copy_stores_the_same_rows_as_an_insert(make_console: ConsoleFactory, dims: int) -> None:
    console = make_console(embedder=HashEmbedder(dims=dims))
    vecs = vectors(dims)
    with console.engine.begin() as conn:
        copied = store_document(conn, console.kb, new_doc("copied.txt"), chunks(), vecs).id
        inserted = insert_as_before(conn, console, "inserted.txt", vecs)
    with console.engine.connect() as conn:
        assert stored(conn, copied) == stored(conn, inserted)
        assert len(stored(conn, copied)) == len(TEXTS)
        back = conn.execute(
            sa.select(ChunkRow.embedding).where(ChunkRow.document_id == copied).order_by(ChunkRow.position)
        ).scalars()
        np.testing.assert_array_equal(np.vstack([np.asarray(v, dtype=np.float32) for v in back]), vecs)
        # The statement-level trigger that keeps BM25's statistics saw the COPY as an insert.
        stats = conn.execute(
            sa.text("SELECT chunk_count, lexeme_count FROM knowledge_bases WHERE id = :k"),
            {"k": console.kb.id},
        ).one()
        truth = conn.execute(sa.text("SELECT count(*), sum(length(tsv)) FROM chunks")).one()
    assert tuple(stats) == tuple(truth)


def test_a_failure_after_the_copy_leaves_nothing(make_console: ConsoleFactory) -> None:
    console = make_console()
    with pytest.raises(RuntimeError, match="after the copy"), console.engine.begin() as conn:
        doc = store_document(conn, console.kb, new_doc("a.txt"), chunks(), vectors(64))
        assert len(stored(conn, doc.id)) == len(TEXTS)  # visible inside the transaction
        raise RuntimeError("after the copy")
    with console.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM chunks")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == 0


def test_a_replaced_document_keeps_only_its_new_chunks(make_console: ConsoleFactory) -> None:
    console = make_console()
    with console.engine.begin() as conn:
        first = store_document(conn, console.kb, new_doc("a.txt"), chunks(), vectors(64))
    with console.engine.begin() as conn:
        again = store_document(conn, console.kb, new_doc("a.txt"), chunks()[:2], vectors(64)[:2])
        assert (again.id, again.replaced) == (first.id, True)
    with console.engine.connect() as conn:
        assert [r[1] for r in stored(conn, first.id)] == TEXTS[:2]
