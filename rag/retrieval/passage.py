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
    score: float
