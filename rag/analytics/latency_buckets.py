"""Total latency of a period from fixed log buckets: its percentiles and an equal-width histogram.

Every bucket is 5% wide (rag/analytics/rollup_sql.py) and keeps its count, fastest, slowest and sum,
so closed days' rollups and today's rows merge without rereading any row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rag.analytics.rollup_sql import BUCKET
from rag.analytics.rollups import CLOSED, LIVE_ANSWERS

_BUCKETS = f"""
SELECT bucket, sum(answers)::bigint AS answers, min(min_ms) AS min_ms, max(max_ms) AS max_ms,
       sum(sum_ms) AS sum_ms
FROM (
    SELECT bucket, answers, min_ms, max_ms, sum_ms FROM rollup_latency_buckets WHERE {CLOSED}
    UNION ALL
    SELECT {BUCKET.format(ms="total_ms")}, count(*), min(total_ms), max(total_ms), sum(total_ms)
    FROM answers WHERE {LIVE_ANSWERS} AND total_ms IS NOT NULL
    GROUP BY 1
) AS b
GROUP BY bucket
ORDER BY bucket
"""

COLUMNS = ["bucket_start_ms", "bucket_end_ms", "answers"]


@dataclass(frozen=True)
class Bucket:
    answers: int
    min_ms: float
    max_ms: float
    sum_ms: float

    def value(self, rank: int) -> float:
        """The rank-th fastest (from 0) of the bucket: exact at both ends, interpolated between."""
        if rank == 0:
            return self.min_ms
        if rank == self.answers - 1:
            return self.max_ms
        return self.min_ms + (self.max_ms - self.min_ms) * rank / (self.answers - 1)


def latency_buckets(engine: Engine, params: dict[str, Any]) -> list[Bucket]:
    """The period's buckets, fastest first; `params` from `rollup_params`."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(_BUCKETS), params).all()
    return [Bucket(int(r.answers), r.min_ms, r.max_ms, r.sum_ms) for r in rows]


def percentile(buckets: list[Bucket], fraction: float) -> float | None:
    """percentile_cont(fraction) over the answers, from their buckets; None without answers."""
    total = sum(b.answers for b in buckets)
    if not total:
        return None
    position = fraction * (total - 1)
    low, high = int(position), min(int(position) + 1, total - 1)
    first, second = _value(buckets, low), _value(buckets, high)
    return first if position == low else first + (second - first) * (position - low)


def histogram(buckets: list[Bucket], bins: int) -> pd.DataFrame:
    """bucket_start_ms, bucket_end_ms, answers in `bins` equal buckets from the fastest to the slowest.

    The fastest and slowest of each log bucket land exactly; the others of a log bucket that
    straddles a bin edge go to the bin of their mean.
    """
    if not buckets:
        return pd.DataFrame(columns=COLUMNS)
    lo, hi = buckets[0].min_ms, buckets[-1].max_ms
    n = bins if hi > lo else 1
    counts = [0] * n

    def bin_of(ms: float) -> int:  # width_bucket(ms, lo, hi, n), the slowest in the last bin
        return 0 if n == 1 else min(int(n * ((ms - lo) / (hi - lo))), n - 1)

    for b in buckets:
        if b.answers == 1:
            counts[bin_of(b.min_ms)] += 1
            continue
        counts[bin_of(b.min_ms)] += 1
        counts[bin_of(b.max_ms)] += 1
        if b.answers > 2:
            counts[bin_of((b.sum_ms - b.min_ms - b.max_ms) / (b.answers - 2))] += b.answers - 2
    rows = [(lo + i * (hi - lo) / n, lo + (i + 1) * (hi - lo) / n, counts[i]) for i in range(n)]
    return pd.DataFrame(rows, columns=COLUMNS)


def _value(buckets: list[Bucket], rank: int) -> float:
    for b in buckets:
        if rank < b.answers:
            return b.value(rank)
        rank -= b.answers
    raise ValueError(f"rank {rank} is past the last answer")
