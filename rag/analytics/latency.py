"""How fast answers come: where the time goes, percentiles per stage and day, a histogram, the
slowest, the errors.

An answer's stages (query embedding, cache lookups, retrieval, generation, logging) and a remainder
(reading the conversation, drawing) add up to its total. Means add up the same way; percentiles do
not, so the breakdown is in means and the percentiles are per stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.latency_buckets import histogram, latency_buckets, percentile
from rag.analytics.period import Period, query_frame, query_row
from rag.analytics.rollup_sql import STAGE_PERCENTILES, STAGE_SUMS, STAGE_VALUES, TOP_PER_DAY
from rag.analytics.rollups import A_LIVE_ANSWERS, CLOSED, LIVE_ANSWERS, rollup_params

# Percentile columns: the measured stages in the order they happen, then time to first text (a
# point in time, not a stage of the sum) and the total.
STAGES = (
    "embed_ms",
    "cache_ms",
    "retrieve_ms",
    "generate_ms",
    "log_ms",
    "first_token_ms",
    "total_ms",
)
# What an answer's total is made of: the measured stages and the rest (other_ms).
PARTS = ("embed_ms", "cache_ms", "retrieve_ms", "generate_ms", "log_ms", "other_ms")

# Live: the seven stage columns unpivoted into (stage, ms) rows, in the order of STAGES.
_LATENCY_BY_DAY = f"""
SELECT day, stage, p50, p95, p99
FROM (
    SELECT day, position, stage, p50, p95, p99 FROM rollup_latency WHERE {CLOSED}
    UNION ALL
    SELECT (a.created_at AT TIME ZONE 'UTC')::date, s.position, s.stage, {STAGE_PERCENTILES}
    FROM answers AS a
    {STAGE_VALUES}
    WHERE {A_LIVE_ANSWERS} AND s.ms IS NOT NULL
    GROUP BY 1, s.position, s.stage
) AS l
ORDER BY day, position
"""

# Per day: the answers with a total and the sums of their stages (rollup_stage_time's columns).
_STAGE_SUMS_BY_DAY = f"""
SELECT day, answers, embed_ms, cache_ms, retrieve_ms, generate_ms, log_ms, total_ms
FROM rollup_stage_time WHERE {CLOSED}
UNION ALL
SELECT (a.created_at AT TIME ZONE 'UTC')::date, {STAGE_SUMS}
FROM answers AS a
WHERE {A_LIVE_ANSWERS} AND a.total_ms IS NOT NULL
GROUP BY 1
"""

# Sums to means, the remainder computed exactly: the parts add up to the mean total.
_MEANS = """(embed_ms / answers)::float8 AS embed_ms, (cache_ms / answers)::float8 AS cache_ms,
       (retrieve_ms / answers)::float8 AS retrieve_ms, (generate_ms / answers)::float8 AS generate_ms,
       (log_ms / answers)::float8 AS log_ms,
       ((total_ms - embed_ms - cache_ms - retrieve_ms - generate_ms - log_ms) / answers)::float8 AS other_ms,
       (total_ms / answers)::float8 AS total_ms"""

_STAGE_TIME_BY_DAY = f"""
SELECT day, answers, {_MEANS}
FROM (
    SELECT day, answers, embed_ms::numeric AS embed_ms, cache_ms::numeric AS cache_ms,
           retrieve_ms::numeric AS retrieve_ms, generate_ms::numeric AS generate_ms,
           log_ms::numeric AS log_ms, total_ms::numeric AS total_ms
    FROM ({_STAGE_SUMS_BY_DAY}) AS d
) AS s
ORDER BY day
"""

# The period's days summed as numeric (exact, so in any order), then the means.
_STAGE_TIME = f"""
SELECT answers::bigint AS answers, {_MEANS}
FROM (
    SELECT sum(answers) AS answers, sum(embed_ms::numeric) AS embed_ms, sum(cache_ms::numeric) AS cache_ms,
           sum(retrieve_ms::numeric) AS retrieve_ms, sum(generate_ms::numeric) AS generate_ms,
           sum(log_ms::numeric) AS log_ms, sum(total_ms::numeric) AS total_ms
    FROM ({_STAGE_SUMS_BY_DAY}) AS d
) AS s
"""

_SLOWEST_OF = """
SELECT created_at, question, model, state, total_ms, first_token_ms,
       embed_ms, cache_ms, retrieve_ms, generate_ms, log_ms, error_code
FROM answers
WHERE id IN ({ids})
ORDER BY total_ms DESC, created_at DESC
LIMIT :limit
"""

# Each closed day keeps its TOP_PER_DAY slowest: the period's slowest are among them and today's.
_SLOWEST_IDS = f"""
(SELECT answer_id FROM rollup_slowest WHERE {CLOSED} ORDER BY total_ms DESC, created_at DESC LIMIT :limit)
UNION ALL
(SELECT id FROM answers WHERE {LIVE_ANSWERS} AND total_ms IS NOT NULL
 ORDER BY total_ms DESC, created_at DESC LIMIT :limit)
"""

_ALL_IDS = """
SELECT id FROM answers
WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before AND in_figures
  AND total_ms IS NOT NULL
"""

_ERRORS_BY_DAY = f"""
SELECT day, error_code, answers, timeouts FROM rollup_errors WHERE {CLOSED}
UNION ALL
SELECT (created_at AT TIME ZONE 'UTC')::date, error_code,
       count(*), count(*) FILTER (WHERE error_code = 'timeout')
FROM answers
WHERE {LIVE_ANSWERS} AND error_code IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class StageTime:
    """Mean ms per answer over the answers with a total: the PARTS add up to total_ms."""

    answers: int
    embed_ms: float
    cache_ms: float
    retrieve_ms: float
    generate_ms: float
    log_ms: float
    other_ms: float  # the rest of the total: reading the conversation, drawing
    total_ms: float

    def parts(self) -> dict[str, float]:
        """PARTS and their mean ms, in the order they happen."""
        return {part: getattr(self, part) for part in PARTS}


def stage_time(engine: Engine, period: Period) -> StageTime | None:
    """Where the period's answers spent their time, on average; None when no answer has a total.

    A stage an answer did not go through (no generation for "I don't know") counts 0 for it.
    """
    row = query_row(engine, _STAGE_TIME, rollup_params(engine, period))
    return StageTime(**row._asdict()) if row.answers else None


def stage_time_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, answers, then the mean ms of each of PARTS and total_ms: the parts add up to the total.

    One row per day with an answer that has a total; `answers` counts those.
    """
    return query_frame(engine, _STAGE_TIME_BY_DAY, rollup_params(engine, period))


def latency_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, stage, p50, p95, p99 in ms (continuous percentiles); a stage's NULLs are left out."""
    return query_frame(engine, _LATENCY_BY_DAY, rollup_params(engine, period))


def total_percentiles(
    engine: Engine, period: Period, fractions: tuple[float, ...] = (0.5, 0.95)
) -> dict[float, float | None]:
    """Percentiles of the answers' total time (within 5%, from the log buckets); None without answers."""
    buckets = latency_buckets(engine, rollup_params(engine, period))
    return {fraction: percentile(buckets, fraction) for fraction in fractions}


def latency_histogram(engine: Engine, period: Period, *, bins: int = 30) -> pd.DataFrame:
    """bucket_start_ms, bucket_end_ms, answers: total latency in `bins` equal buckets, empty ones too.

    One bucket when every answer took the same time; no rows when no answer has a total. Counted from
    5%-wide log buckets: an answer may land one bin off when its log bucket straddles a bin edge.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    return histogram(latency_buckets(engine, rollup_params(engine, period)), bins)


def slowest_answers(engine: Engine, period: Period, *, limit: int = 20) -> pd.DataFrame:
    """The `limit` answers with the longest total time, slowest first, with their stage breakdown:
    created_at, question, model, state, total_ms, first_token_ms, then the stages' ms, error_code."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if limit > TOP_PER_DAY:  # more than the rollups keep: read every answer of the period
        return query_frame(engine, _SLOWEST_OF.format(ids=_ALL_IDS), period.params(limit=limit))
    params = rollup_params(engine, period, limit=limit)
    return query_frame(engine, _SLOWEST_OF.format(ids=_SLOWEST_IDS), params)


def errors_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, error_code, answers, timeouts: answers that ended in an error, by day and code."""
    return query_frame(engine, _ERRORS_BY_DAY, rollup_params(engine, period))
