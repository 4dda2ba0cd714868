"""Dense retrieval: cosine top-k over a knowledge base's HNSW index."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rag.generation import Passage
from rag.knowledge_base import KnowledgeBaseRef


def retrieve(
    engine: Engine, kb: KnowledgeBaseRef, query_vectors: npt.NDArray[np.float32], *, k: int
) -> list[Passage]:
    """The k best chunks for any of the query vectors (a chunk scores its best match), numbered 1..k."""
    best: dict[int, sa.Row[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for vector in query_vectors:
            for row in conn.execute(_query(kb.dimensions), {"q": _literal(vector), "kb": kb.id, "k": k}):
                if row.id not in best or row.score > best[row.id].score:
                    best[row.id] = row
    ranked = sorted(best.values(), key=lambda r: r.score, reverse=True)[:k]
    return [
        Passage(
            number=i,
            chunk_id=r.id,
            document_id=r.document_id,
            document=r.title,
            location=format_location(r.page_start, r.page_end, None if r.heading == r.title else r.heading),
            text=r.text,
            score=float(r.score),
        )
        for i, r in enumerate(ranked, start=1)
    ]


def _query(dimensions: int) -> sa.TextClause:
    # The cast must read exactly like the partial index's expression for the planner to use it;
    # the dimension is an int we own, so formatting it in is safe.
    distance = f"(c.embedding::vector({int(dimensions)}) <=> CAST(:q AS vector({int(dimensions)})))"
    return sa.text(
        f"SELECT c.id, c.document_id, d.title, c.page_start, c.page_end, c.heading, c.text, "
        f"1 - {distance} AS score "
        f"FROM chunks c JOIN documents d ON d.id = c.document_id "
        f"WHERE c.knowledge_base_id = :kb ORDER BY {distance} LIMIT :k"
    )


def _literal(vector: npt.NDArray[np.float32]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def format_location(page_start: int | None, page_end: int | None, heading: str | None) -> str:
    parts = []
    if page_start is not None:
        parts.append(f"p. {page_start}" if page_end in (None, page_start) else f"pp. {page_start}–{page_end}")
    if heading:
        parts.append(heading)
    return " · ".join(parts)
