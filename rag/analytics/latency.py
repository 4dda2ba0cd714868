"""How fast answers come: percentiles per stage and day, a histogram, the slowest, the errors."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.period import Period, query_frame

STAGES = ("embed_ms", "retrieve_ms", "generate_ms", "first_token_ms", "total_ms")

# The five stage columns unpivoted into (stage, ms) rows, in the order of STAGES.
_LATENCY_BY_DAY = """
SELECT (a.created_at AT TIME ZONE 'UTC')::date AS day, s.stage,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY s.ms) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY s.ms) AS p95,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY s.ms) AS p99
FROM answers AS a
CROSS JOIN LATERAL (VALUES (1, 'embed_ms', a.embed_ms), (2, 'retrieve_ms', a.retrieve_ms),
                           (3, 'generate_ms', a.generate_ms), (4, 'first_token_ms', a.first_token_ms),
                           (5, 'total_ms', a.total_ms)) AS s(position, stage, ms)
WHERE a.is_demo = :demo AND a.created_at >= :starts_at AND a.created_at < :ends_before
  AND s.ms IS NOT NULL
GROUP BY 1, s.position, s.stage
ORDER BY 1, s.position
"""

# Equal-width buckets from the fastest to the slowest answer; the slowest closes the last bucket.
_HISTOGRAM = """
WITH t AS (
    SELECT total_ms FROM answers
    WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before
      AND total_ms IS NOT NULL
), r AS (
    SELECT min(total_ms) AS lo, max(total_ms) AS hi,
           CASE WHEN max(total_ms) > min(total_ms) THEN :bins ELSE 1 END AS n
    FROM t HAVING count(*) > 0
), counts AS (
    SELECT CASE WHEN r.n = 1 THEN 1 ELSE least(width_bucket(t.total_ms, r.lo, r.hi, r.n), r.n) END
               AS bucket,
           count(*) AS answers
    FROM t CROSS JOIN r
    GROUP BY 1
)
SELECT r.lo + (g.bucket - 1) * (r.hi - r.lo) / r.n AS bucket_start_ms,
       r.lo + g.bucket * (r.hi - r.lo) / r.n AS bucket_end_ms,
       coalesce(counts.answers, 0) AS answers
FROM r CROSS JOIN generate_series(1, r.n) AS g(bucket)
LEFT JOIN counts ON counts.bucket = g.bucket
ORDER BY g.bucket
"""

_SLOWEST = """
SELECT created_at, question, model, total_ms, embed_ms, retrieve_ms, generate_ms, first_token_ms, error_code
FROM answers
WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before
  AND total_ms IS NOT NULL
ORDER BY total_ms DESC, created_at DESC
LIMIT :limit
"""

_ERRORS_BY_DAY = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, error_code,
       count(*) AS answers,
       count(*) FILTER (WHERE error_code = 'timeout') AS timeouts
FROM answers
WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before
  AND error_code IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
"""


def latency_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, stage, p50, p95, p99 in ms (continuous percentiles); a stage's NULLs are left out."""
    return query_frame(engine, _LATENCY_BY_DAY, period.params())


def latency_histogram(engine: Engine, period: Period, *, bins: int = 30) -> pd.DataFrame:
    """bucket_start_ms, bucket_end_ms, answers: total latency in `bins` equal buckets, empty ones too.

    One bucket when every answer took the same time; no rows when no answer has a total.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    return query_frame(engine, _HISTOGRAM, period.params(bins=bins))


def slowest_answers(engine: Engine, period: Period, *, limit: int = 20) -> pd.DataFrame:
    """The `limit` answers with the longest total time, slowest first, with their stage breakdown."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return query_frame(engine, _SLOWEST, period.params(limit=limit))


def errors_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, error_code, answers, timeouts: answers that ended in an error, by day and code."""
    return query_frame(engine, _ERRORS_BY_DAY, period.params())
