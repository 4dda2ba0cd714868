"""Embedding batches already paid for, kept in PostgreSQL until their document is stored.

A job killed or failed part-way through embedding resumes from here, on any worker: the batches
embedded before are read back instead of being sent to the model again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from db.models import EmbeddedBatch, ModelCall

Vectors = npt.NDArray[np.float32]
KEEP_DAYS = 7  # batches of a document nobody retried for this long are dropped


def paid_batches(engine: Engine, key: str) -> dict[int, Vectors]:
    """The batches (by number) embedded for these texts before, by any process."""
    query = sa.select(
        EmbeddedBatch.batch, EmbeddedBatch.rows, EmbeddedBatch.dimensions, EmbeddedBatch.vectors
    )
    with engine.connect() as conn:
        rows = conn.execute(query.where(EmbeddedBatch.resume_key == key)).all()
    return {
        r.batch: np.frombuffer(r.vectors, dtype=np.float32).reshape(r.rows, r.dimensions).copy() for r in rows
    }


def keep_paid_batch(
    engine: Engine, key: str, batch: int, vectors: Vectors, *, calls: Sequence[dict[str, Any]] = ()
) -> None:
    """Keep the batch and log the model calls that paid for it (`model_calls` rows), in one
    transaction: a worker that dies later loses neither."""
    with engine.begin() as conn:
        ids = (
            list(conn.execute(sa.insert(ModelCall).returning(ModelCall.id), list(calls)).scalars())
            if calls
            else []
        )
        row = insert(EmbeddedBatch).values(
            resume_key=key,
            batch=batch,
            rows=vectors.shape[0],
            dimensions=vectors.shape[1],
            vectors=np.ascontiguousarray(vectors, dtype=np.float32).tobytes(),
            call_ids=ids,
        )
        # Kept already (two processes raced on it): the calls of both paid for it.
        conn.execute(
            row.on_conflict_do_update(
                index_elements=[EmbeddedBatch.resume_key, EmbeddedBatch.batch],
                set_={"call_ids": EmbeddedBatch.call_ids + row.excluded.call_ids},
            )
        )


def forget_paid_batches(conn: Connection, key: str, *, document_id: int) -> None:
    """Called in the transaction that stores the document: its vectors now live in its chunks, and
    the calls that paid for them (logged without a document then, by this process or by a worker
    that died) are its own."""
    kept = conn.execute(
        sa.delete(EmbeddedBatch).where(EmbeddedBatch.resume_key == key).returning(EmbeddedBatch.call_ids)
    ).scalars()
    paid = sorted({i for ids in kept for i in ids})
    if paid:
        conn.execute(sa.update(ModelCall).where(ModelCall.id.in_(paid)).values(document_id=document_id))


def drop_old_paid_batches(engine: Engine, *, days: int = KEEP_DAYS) -> int:
    cutoff = sa.func.now() - sa.text(f"interval '{int(days)} days'")
    with engine.begin() as conn:
        return conn.execute(sa.delete(EmbeddedBatch).where(EmbeddedBatch.created_at < cutoff)).rowcount
