"""One ingestion of the same content at a time per knowledge base: a PostgreSQL advisory lock.

Concurrent uploads of the same bytes (eight people dropping the same PDF) wait for the first,
then find its document instead of embedding the same text again. The lock is a session lock
on the connection it yields, so it also ends if the process dies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.engine import Connection, Engine

_LOCK = sa.text("SELECT pg_advisory_lock(:kb, :key)")
_UNLOCK = sa.text("SELECT pg_advisory_unlock(:kb, :key)")


@contextlib.contextmanager
def content_lock(engine: Engine, knowledge_base_id: int, content_hash: str) -> Iterator[Connection]:
    """Hold the lock on (knowledge base, content hash) and yield its connection to work on."""
    params = {
        "kb": knowledge_base_id,
        "key": int.from_bytes(bytes.fromhex(content_hash[:8]), "big", signed=True),
    }
    with engine.connect() as conn:
        with conn.begin():
            # Waiting lasts as long as another upload's embedding: no statement timeout applies.
            conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
            conn.execute(_LOCK, params)
        try:
            yield conn
        finally:
            _unlock(conn, params)


def _unlock(conn: Connection, params: dict[str, int]) -> None:
    try:
        if conn.in_transaction():
            conn.rollback()
        with conn.begin():
            conn.execute(_UNLOCK, params)
    except sqlalchemy.exc.DBAPIError:
        # A session that may still hold the lock must not go back to the pool.
        conn.invalidate()
