"""Chunk rows written with COPY ... FROM STDIN (BINARY): the bulk insert of a document's chunks.

Binary, because formatting vectors as text costs about 1 ms per 1,536 floats in Python, more
than the rest of the insert; in binary a vector is one `tobytes()`, exact to the last bit.
The encodings must match the column types of `chunks` (int4, text, vector); a change
of type there shows up at once in the round-trip tests.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import numpy.typing as npt
import sqlalchemy.exc
from sqlalchemy.engine import Connection

from rag.text.chunking import Chunk

COLUMNS = (
    "document_id",
    "knowledge_base_id",
    "position",
    "text",
    "token_count",
    "page_start",
    "page_end",
    "heading",
    "embedding",
)
_COPY = f"COPY chunks ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT binary)"
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
_NULL = struct.pack("!i", -1)
_FIELDS = struct.pack("!h", len(COLUMNS))


def copy_chunks(
    conn: Connection, document_id: int, kb_id: int, chunks: list[Chunk], vectors: npt.NDArray[np.float32]
) -> None:
    """Insert the chunks on `conn`'s own connection, so inside the caller's transaction."""
    data = copy_data(document_id, kb_id, chunks, vectors)
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    driver_error = conn.dialect.loaded_dbapi.Error
    cursor = dbapi.cursor()
    try:
        cursor.copy_expert(_COPY, io.BytesIO(data))
    except driver_error as exc:
        # Raised by the driver, not by SQLAlchemy: give callers the exception types they expect,
        # and, as SQLAlchemy would, drop a connection the server has closed (no rollback on it).
        lost = conn.dialect.is_disconnect(exc, dbapi, cursor)
        if lost:
            conn.invalidate(exc)
        raise sqlalchemy.exc.DBAPIError.instance(
            _COPY, None, exc, driver_error, connection_invalidated=lost
        ) from exc
    finally:
        if not cursor.closed:
            cursor.close()


def copy_data(document_id: int, kb_id: int, chunks: list[Chunk], vectors: npt.NDArray[np.float32]) -> bytes:
    big_endian = np.ascontiguousarray(vectors, dtype=">f4")
    head = struct.pack("!hh", big_endian.shape[1], 0)  # pgvector: dimensions, unused
    ids = _int4(document_id) + _int4(kb_id)
    parts = [_HEADER]
    for chunk, vector in zip(chunks, big_endian, strict=True):
        parts += (
            _FIELDS,
            ids,
            _int4(chunk.position),
            _text(chunk.text),
            _int4(chunk.token_count),
            _int4(chunk.page_start),
            _int4(chunk.page_end),
            _text(chunk.heading),
            _vector(head, vector.tobytes()),
        )
    parts.append(_TRAILER)
    return b"".join(parts)


def _int4(value: int | None) -> bytes:
    return _NULL if value is None else struct.pack("!ii", 4, value)


def _text(value: str | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode()
    return struct.pack("!i", len(data)) + data


def _vector(head: bytes, floats: bytes) -> bytes:
    return struct.pack("!i", len(head) + len(floats)) + head + floats
