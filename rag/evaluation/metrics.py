"""Ranking metrics over document ids, as BEIR reports them, and latency percentiles.

`ranked` lists distinct document ids, best first; `relevant` maps ids to graded relevance, where
a grade above 0 counts as relevant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Graded nDCG: gains (2^rel - 1) / log2(rank + 1), over the ideal ordering of the judgments."""
    ideal = _dcg(sorted(relevant.values(), reverse=True)[:k])
    return _dcg([relevant.get(d, 0) for d in ranked[:k]]) / ideal if ideal > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    wanted = {d for d, grade in relevant.items() if grade > 0}
    return len(wanted.intersection(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """1 / the rank of the first relevant document within the top k, else 0."""
    for rank, doc in enumerate(ranked[:k], start=1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), interpolated linearly between the closest ranks (numpy's default)."""
    if not values:
        raise ValueError("expected at least one value")
    if not 0 <= p <= 100:
        raise ValueError("expected 0 <= p <= 100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _dcg(grades: Sequence[int]) -> float:
    return sum((2.0**g - 1) / math.log2(i + 2) for i, g in enumerate(grades) if g > 0)
