"""How fast answers come: percentiles per stage and day, a histogram, the slowest, the errors."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.latency_buckets import histogram, latency_buckets
from rag.analytics.period import Period, query_frame
from rag.analytics.rollup_sql import STAGE_PERCENTILES, STAGE_VALUES, TOP_PER_DAY
from rag.analytics.rollups import A_LIVE, CLOSED, LIVE, rollup_params

STAGES = ("embed_ms", "retrieve_ms", "generate_ms", "first_token_ms", "total_ms")

# Live: the five stage columns unpivoted into (stage, ms) rows, in the order of STAGES.
_LATENCY_BY_DAY = f"""
SELECT day, stage, p50, p95, p99
FROM (
    SELECT day, position, stage, p50, p95, p99 FROM rollup_latency WHERE {CLOSED}
    UNION ALL
    SELECT (a.created_at AT TIME ZONE 'UTC')::date, s.position, s.stage, {STAGE_PERCENTILES}
    FROM answers AS a
    {STAGE_VALUES}
    WHERE {A_LIVE} AND s.ms IS NOT NULL
    GROUP BY 1, s.position, s.stage
) AS l
ORDER BY day, position
"""

_SLOWEST_OF = """
SELECT created_at, question, model, total_ms, embed_ms, retrieve_ms, generate_ms, first_token_ms, error_code
FROM answers
WHERE id IN ({ids})
ORDER BY total_ms DESC, created_at DESC
LIMIT :limit
"""

# Each closed day keeps its TOP_PER_DAY slowest: the period's slowest are among them and today's.
_SLOWEST_IDS = f"""
(SELECT answer_id FROM rollup_slowest WHERE {CLOSED} ORDER BY total_ms DESC, created_at DESC LIMIT :limit)
UNION ALL
(SELECT id FROM answers WHERE {LIVE} AND total_ms IS NOT NULL
 ORDER BY total_ms DESC, created_at DESC LIMIT :limit)
"""

_ALL_IDS = """
SELECT id FROM answers
WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before AND total_ms IS NOT NULL
"""

_ERRORS_BY_DAY = f"""
SELECT day, error_code, answers, timeouts FROM rollup_errors WHERE {CLOSED}
UNION ALL
SELECT (created_at AT TIME ZONE 'UTC')::date, error_code,
       count(*), count(*) FILTER (WHERE error_code = 'timeout')
FROM answers
WHERE {LIVE} AND error_code IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
"""


def latency_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, stage, p50, p95, p99 in ms (continuous percentiles); a stage's NULLs are left out."""
    return query_frame(engine, _LATENCY_BY_DAY, rollup_params(engine, period))


def latency_histogram(engine: Engine, period: Period, *, bins: int = 30) -> pd.DataFrame:
    """bucket_start_ms, bucket_end_ms, answers: total latency in `bins` equal buckets, empty ones too.

    One bucket when every answer took the same time; no rows when no answer has a total. Counted from
    5%-wide log buckets: an answer may land one bin off when its log bucket straddles a bin edge.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    return histogram(latency_buckets(engine, rollup_params(engine, period)), bins)


def slowest_answers(engine: Engine, period: Period, *, limit: int = 20) -> pd.DataFrame:
    """The `limit` answers with the longest total time, slowest first, with their stage breakdown."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if limit > TOP_PER_DAY:  # more than the rollups keep: read every answer of the period
        return query_frame(engine, _SLOWEST_OF.format(ids=_ALL_IDS), period.params(limit=limit))
    params = rollup_params(engine, period, limit=limit)
    return query_frame(engine, _SLOWEST_OF.format(ids=_SLOWEST_IDS), params)


def errors_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, error_code, answers, timeouts: answers that ended in an error, by day and code."""
    return query_frame(engine, _ERRORS_BY_DAY, rollup_params(engine, period))
