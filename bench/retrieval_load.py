"""Bulk-load the retrieval benchmark's collection into the app's own tables, with binary COPY.

Rows get ids 1..size in order, so chunk id - 1 is the row of the same vector in numpy; every
100 chunks share a document. The statement triggers of migration 0002 keep the knowledge base's
text statistics (which BM25 reads) up to date, as they do for uploads.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.retrieval_corpus import RealCorpus, Vectors, grown_block, neighbours
from rag.library.knowledge_bases import KnowledgeBaseRef
from rag.text.tokens import count_tokens

CHUNKS_PER_DOCUMENT = 100
BLOCK = 20_000
COPY_CHUNKS = (
    "COPY chunks (id, document_id, knowledge_base_id, position, text, token_count, embedding) "
    "FROM STDIN WITH (FORMAT binary)"
)
Progress = Callable[[int], None]


def load_rows(
    engine: Engine,
    kb: KnowledgeBaseRef,
    real: RealCorpus,
    start: int,
    stop: int,
    *,
    noise: float,
    progress: Progress | None = None,
) -> Vectors:
    """Store rows [start, stop) of the grown collection; return their vectors."""
    tokens = [count_tokens(t) for t in real.texts]
    encoded = [t.encode() for t in real.texts]
    near = neighbours(real.vectors)
    parts = []
    for block in range(start, stop, BLOCK):
        end = min(block + BLOCK, stop)
        vectors, sources = grown_block(real.vectors, near, block, end, noise=noise)
        _insert_documents(engine, kb, block, end)
        raw = engine.raw_connection()
        try:
            cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.copy_expert(COPY_CHUNKS, _copy_data(kb, block, vectors, sources, encoded, tokens))
            raw.commit()
        finally:
            raw.close()
        parts.append(vectors)
        if progress:
            progress(end)
    return np.vstack(parts)


def _insert_documents(engine: Engine, kb: KnowledgeBaseRef, start: int, stop: int) -> None:
    first, last = start // CHUNKS_PER_DOCUMENT + 1, (stop - 1) // CHUNKS_PER_DOCUMENT + 1
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO documents (id, knowledge_base_id, title, filename, kind, content_hash, "
                "size_bytes, chunk_count, token_count, uploaded_by) "
                "SELECT n, :kb, 'Benchmark document ' || n, 'bench-' || n || '.txt', 'txt', md5(n::text), "
                "0, :per, 0, 'bench' FROM generate_series(:first, :last) AS n ON CONFLICT (id) DO NOTHING"
            ),
            {"kb": kb.id, "per": CHUNKS_PER_DOCUMENT, "first": first, "last": last},
        )


def _copy_data(
    kb: KnowledgeBaseRef,
    start: int,
    vectors: Vectors,
    sources: np.ndarray,  # type: ignore[type-arg]
    texts: list[bytes],
    tokens: list[int],
) -> io.BytesIO:
    # PostgreSQL's binary COPY: a header, then per row the field count and each field as
    # length + bytes (network byte order); pgvector's binary vector is dim, 0, then float4s.
    out = io.BytesIO()
    out.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
    vector_header = struct.pack("!ihh", 4 + 4 * vectors.shape[1], vectors.shape[1], 0)
    big_endian = vectors.astype(">f4")
    for i, source in enumerate(sources.tolist()):
        row = start + i
        text = texts[source]
        out.write(
            struct.pack(
                "!hiqiiiiiii",
                7,
                8,
                row + 1,
                4,
                row // CHUNKS_PER_DOCUMENT + 1,
                4,
                kb.id,
                4,
                row % CHUNKS_PER_DOCUMENT,
                len(text),
            )
        )
        out.write(text)
        out.write(struct.pack("!ii", 4, tokens[source]))
        out.write(vector_header)
        out.write(big_endian[i].tobytes())
    out.write(struct.pack("!h", -1))
    out.seek(0)
    return out
