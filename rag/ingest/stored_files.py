"""Uploaded bytes kept in PostgreSQL by content hash, while a job needs them or a document is them.

Any worker on any machine reads them from the database the app writes them to; the same bytes
uploaded twice are kept once. Once ingested they stay as the document's original (an agent opens
it from a source, a PDF at the cited page) until a new version replaces it or it is deleted; the
nightly tidy then drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from db.models import Document, IngestionJob, StoredFile

# A failed or cancelled job keeps its bytes this long, for a retry.
KEEP_FOR_RETRY_DAYS = 7
_WAITING = ("queued", "parsing", "embedding", "storing")
_RETRYABLE = ("failed", "cancelled")


def store_file(conn: Connection, content_hash: str, data: bytes) -> None:
    """Keep the bytes (once per content, by their SHA-256). The row stays locked until the
    caller's transaction ends, so `release_file` waits to see the job the caller adds for them."""
    row = {"content_hash": content_hash, "data": data, "size_bytes": len(data)}
    conn.execute(
        insert(StoredFile)
        .values(row)
        .on_conflict_do_update(index_elements=[StoredFile.content_hash], set_={"size_bytes": len(data)})
    )


def load_file(engine: Engine, content_hash: str) -> bytes | None:
    with engine.connect() as conn:
        data: bytes | None = conn.execute(
            sa.select(StoredFile.data).where(StoredFile.content_hash == content_hash)
        ).scalar_one_or_none()
    return data


def release_file(engine: Engine, content_hash: str) -> None:
    """Drop the bytes unless a job still waits for them or may be retried, or a document is them."""
    with engine.begin() as conn:
        _release(conn, StoredFile.content_hash == content_hash, ~_needed())


def release_unneeded_files(engine: Engine, *, days: int = KEEP_FOR_RETRY_DAYS) -> int:
    with engine.begin() as conn:
        return _release(conn, ~_needed(days))


def _release(conn: Connection, *where: sa.ColumnElement[bool]) -> int:
    # Wait for uploads of the same bytes still in their transaction (store_file locks the row):
    # the delete, a later statement, then sees the jobs they added.
    conn.execute(sa.select(StoredFile.content_hash).where(*where).with_for_update())
    return conn.execute(sa.delete(StoredFile).where(*where)).rowcount


def _needed(days: int | None = None) -> sa.ColumnElement[bool]:
    job = IngestionJob
    retryable: sa.ColumnElement[bool] = job.state.in_(_RETRYABLE)
    if days is not None:
        retryable = retryable & (job.updated_at > sa.func.now() - sa.text(f"interval '{int(days)} days'"))
    waiting = (
        sa.select(job.id)
        .where(job.content_hash == StoredFile.content_hash, job.state.in_(_WAITING) | retryable)
        .exists()
    )
    original = sa.select(Document.id).where(Document.content_hash == StoredFile.content_hash).exists()
    return waiting | original
