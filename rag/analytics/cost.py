"""What the models cost: dollars and tokens per day, model and purpose; per answer; period totals."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.period import Period, query_frame, query_row
from rag.analytics.rollups import A_LIVE, CLOSED, LIVE, rollup_params

_COST_BY_DAY = f"""
SELECT day, model, purpose, calls, tokens_in, tokens_out, cost_usd::float8 AS cost_usd, unpriced_calls
FROM rollup_cost WHERE {CLOSED}
UNION ALL
SELECT (created_at AT TIME ZONE 'UTC')::date, model, purpose,
       count(*),
       coalesce(sum(tokens_in), 0)::bigint,
       coalesce(sum(tokens_out), 0)::bigint,
       sum(cost_usd)::float8,
       count(*) FILTER (WHERE cost_usd IS NULL)
FROM model_calls
WHERE {LIVE}
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""

# Both periods at once (bound as one from the previous period's first day): the previous one ends
# where this one starts.
_CALL_TOTALS = f"""
SELECT coalesce(sum(cost_usd) FILTER (WHERE day >= :current_first_day), 0)::float8 AS cost_usd,
       coalesce(sum(tokens_in) FILTER (WHERE day >= :current_first_day), 0)::bigint AS tokens_in,
       coalesce(sum(tokens_out) FILTER (WHERE day >= :current_first_day), 0)::bigint AS tokens_out,
       coalesce(array_agg(DISTINCT model ORDER BY model)
                FILTER (WHERE unpriced_calls > 0 AND day >= :current_first_day), '{{}}') AS unpriced_models,
       coalesce(sum(cost_usd) FILTER (WHERE day < :current_first_day), 0)::float8 AS previous_cost_usd
FROM (
    SELECT day, model, cost_usd, tokens_in, tokens_out, unpriced_calls FROM rollup_cost WHERE {CLOSED}
    UNION ALL
    SELECT (created_at AT TIME ZONE 'UTC')::date, model, sum(cost_usd), sum(tokens_in), sum(tokens_out),
           count(*) FILTER (WHERE cost_usd IS NULL)
    FROM model_calls WHERE {LIVE}
    GROUP BY 1, 2
) AS c
"""

# Cache hits and what they saved (the original answers' cost less the hits' own) add up over days.
_CACHE_TOTALS = f"""
SELECT coalesce(sum(hits), 0)::bigint AS cache_hits, coalesce(sum(saved_usd), 0)::float8 AS saved_usd
FROM (
    SELECT cache_hits AS hits, saved_usd FROM rollup_answers WHERE {CLOSED}
    UNION ALL
    SELECT count(*), sum(saved_usd) FROM answers WHERE {LIVE} AND cache_hit
) AS h
"""

# Distinct conversations add up over days: a conversation counts on its first day in the period,
# the day whose previous answer (gap_days before; 0: none) falls before the period.
_ANSWER_TOTALS = f"""
SELECT (SELECT coalesce(sum(questions), 0) FROM rollup_answers WHERE {CLOSED})
       + (SELECT count(*) FROM answers WHERE {LIVE}) AS answers,
       (SELECT coalesce(sum(conversations), 0) FROM rollup_conversations
        WHERE {CLOSED} AND (gap_days = 0 OR day - gap_days < :first_day))
       + (SELECT count(DISTINCT a.conversation_id) FROM answers AS a
          WHERE {A_LIVE} AND NOT EXISTS (
              SELECT 1 FROM answers AS b
              WHERE b.conversation_id = a.conversation_id AND b.is_demo = :demo
                AND b.created_at >= :starts_at AND b.created_at < :live_starts_at)) AS conversations
"""

_COST_PER_ANSWER_BY_DAY = f"""
SELECT day, questions AS answers, cost_usd::float8 AS cost_usd, cost_per_answer, unpriced_answers
FROM rollup_answers WHERE {CLOSED}
UNION ALL
SELECT (created_at AT TIME ZONE 'UTC')::date,
       count(*),
       sum(cost_usd)::float8,
       avg(cost_usd)::float8,
       count(*) FILTER (WHERE cost_usd IS NULL)
FROM answers
WHERE {LIVE}
GROUP BY 1
ORDER BY 1
"""


@dataclass(frozen=True)
class CostTotals:
    cost_usd: float  # priced calls only; see unpriced_models
    tokens_in: int
    tokens_out: int
    answers: int
    conversations: int
    cost_per_answer: float | None  # all model calls (ingestion too) over answers; None without answers
    cost_per_conversation: float | None
    unpriced_models: list[str]  # models with calls of unknown cost in the period
    previous_cost_usd: float
    change_pct: float | None  # against the previous period, in percent; None if it cost nothing
    cache_hits: int = 0  # answers given from the answer cache
    saved_usd: float = 0.0  # what those answers would have cost (priced ones only)


def cost_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, model, purpose, calls, tokens_in, tokens_out, cost_usd, unpriced_calls.

    cost_usd sums the priced calls; it is NaN (unknown, not zero) when no call of the group is priced.
    """
    return query_frame(engine, _COST_BY_DAY, rollup_params(engine, period))


def cost_totals(engine: Engine, period: Period) -> CostTotals:
    both = Period(period.previous().start, period.end, period.demo)
    calls = query_row(engine, _CALL_TOTALS, rollup_params(engine, both, current_first_day=period.start))
    answers = query_row(engine, _ANSWER_TOTALS, rollup_params(engine, period))
    cache = query_row(engine, _CACHE_TOTALS, rollup_params(engine, period))
    return CostTotals(
        cost_usd=calls.cost_usd,
        tokens_in=calls.tokens_in,
        tokens_out=calls.tokens_out,
        answers=int(answers.answers),
        conversations=int(answers.conversations),
        cost_per_answer=_per(calls.cost_usd, int(answers.answers)),
        cost_per_conversation=_per(calls.cost_usd, int(answers.conversations)),
        unpriced_models=list(calls.unpriced_models),
        previous_cost_usd=calls.previous_cost_usd,
        change_pct=_change_pct(calls.cost_usd, calls.previous_cost_usd),
        cache_hits=int(cache.cache_hits),
        saved_usd=cache.saved_usd,
    )


def cost_per_answer_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, answers, cost_usd, cost_per_answer, unpriced_answers (from answers.cost_usd).

    Answers of unknown cost are left out of the sum and the average and counted in unpriced_answers.
    """
    return query_frame(engine, _COST_PER_ANSWER_BY_DAY, rollup_params(engine, period))


def _per(cost: float, count: int) -> float | None:
    return cost / count if count else None


def _change_pct(current: float, previous: float) -> float | None:
    return (current - previous) / previous * 100 if previous else None
