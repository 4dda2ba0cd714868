"""What retrieval hands on: a chunk found for a question, numbered for citation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk as the answerer sees it; `number` is its citation label [n]."""

    number: int
    chunk_id: int
    document_id: int
    document: str
    location: str
    text: str
    score: float  # cosine similarity to the question
    # The rest of the evidence (rag/answer/gate.py): the share of the question's word weight (idf)
    # the passage contains, and its rank in each leg (None: that leg did not find it).
    keyword_coverage: float = 0.0
    dense_rank: int | None = None
    keyword_rank: int | None = None
