"""How retrieval ranks: which legs run, how deep, and how their ranks are fused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

RetrievalMode = Literal["dense", "keyword", "hybrid"]  # vectors, words, or both fused
MODES: tuple[RetrievalMode, ...] = get_args(RetrievalMode)
Fusion = Literal["convex", "rrf"]  # how hybrid fuses the legs: normalised scores, or ranks
FUSIONS: tuple[Fusion, ...] = get_args(Fusion)
CANDIDATE_POSTINGS = 2_500
# ef_search by the knowledge base's size, measured by bench/retrieval.py (halfvec; graph m 32,
# ef_construction 128). At 100,000 chunks 128 already finds recall@10 0.99 and 600 only costs time;
# at 1,000,000 recall@10 is 0.931 / 0.955 / 0.969 for 400 / 600 / 800, at 20 / 19 / 27 ms p50 on
# a loaded 2-core machine (bench/README.md, "A denser graph at 1,000,000").
SMALL_EF_SEARCH = 128
LARGE_EF_SEARCH = 600
LARGE_LIBRARY_CHUNKS = 300_000


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
    # Hybrid's fusion: "rrf" sums weight / (rrf_k + rank) over the legs; "convex" sums weight x the
    # leg's score (cosine, BM25) min-max scaled over its `depth` candidates. bench/fusion.py scored
    # both on two collections (bench/README.md, "Hybrid fusion on two collections"). rrf_k 10 (60
    # before): nDCG@10 SciFact 0.7230 (0.7133 at 60), Cranfield 0.3806 (0.3698), both above the
    # better single leg (0.6838 keyword, 0.3547 dense); a small k lets a leg's first ranks count,
    # which lists `depth` = 40 deep need (60 was tuned for 1,000-deep TREC runs). Convex scored
    # 0.7244 / 0.3784 but min-max stretches a small library's scores: in the sample library the
    # refund policy (keyword rank 1, dense 5) then beat the Team plan's row (dense 1, keyword 4).
    fusion: Fusion = "rrf"
    rrf_k: int = 10
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    # HNSW candidate list per dense-leg scan (at least `depth`): higher finds more of the true
    # nearest neighbours at some cost in time. None: by the knowledge base's size (`ef_search_for`).
    ef_search: int | None = None
    # The keyword leg's candidates are the chunks holding the question's rarest lexemes, taken
    # rarest first while their document frequencies sum to at most this (the rarest always counts):
    # the work stays bounded however large the collection. bench/keyword.py measured it.
    candidate_postings: int = CANDIDATE_POSTINGS

    def ef_search_for(self, chunks: int) -> int:
        """The HNSW candidate list for a knowledge base of `chunks` chunks, at least `depth`."""
        if self.ef_search is not None:
            chosen = self.ef_search
        else:
            chosen = LARGE_EF_SEARCH if chunks >= LARGE_LIBRARY_CHUNKS else SMALL_EF_SEARCH
        return max(chosen, self.depth)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"expected mode in {MODES}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"expected fusion in {FUSIONS}")
        if self.k < 1 or self.depth < self.k:
            raise ValueError("expected 1 <= k <= depth")
        if self.ef_search is not None and not 1 <= self.ef_search <= 1000:
            raise ValueError("expected 1 <= ef_search <= 1000")
        if self.candidate_postings < 1:
            raise ValueError("expected candidate_postings >= 1")
