"""How retrieval ranks: which legs run, how deep, and how their ranks are fused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

RetrievalMode = Literal["dense", "keyword", "hybrid"]  # vectors, words, or both fused by rank
MODES: tuple[RetrievalMode, ...] = get_args(RetrievalMode)
CANDIDATE_POSTINGS = 2_500


def retrieval_mode(name: str) -> RetrievalMode:
    """The mode called `name`, for a mode chosen as text (a page's or the CLI's)."""
    for mode in MODES:
        if name == mode:
            return mode
    raise ValueError(f"expected mode in {MODES}")


@dataclass(frozen=True)
class RetrievalParams:
    mode: RetrievalMode = "hybrid"
    k: int = 5
    depth: int = 40  # candidates each leg contributes before fusion
    rrf_k: int = 60
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    # HNSW candidate list per dense-leg scan (at least `depth`): higher finds more of the true
    # nearest neighbours at some cost in time. At 100,000 chunks bench/retrieval.py measured
    # recall@10 0.931 / 0.959 / 0.968 for 64 / 100 / 128, at 3.3 / 3.4 / 3.6 ms (p50, halfvec).
    ef_search: int = 128
    # The keyword leg's candidates are the chunks holding the question's rarest lexemes, taken
    # rarest first while their document frequencies sum to at most this (the rarest always counts):
    # the work stays bounded however large the collection. bench/keyword.py measured it.
    candidate_postings: int = CANDIDATE_POSTINGS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"expected mode in {MODES}")
        if self.k < 1 or self.depth < self.k:
            raise ValueError("expected 1 <= k <= depth")
        if not 1 <= self.ef_search <= 1000:
            raise ValueError("expected 1 <= ef_search <= 1000")
        if self.candidate_postings < 1:
            raise ValueError("expected candidate_postings >= 1")
