"""What the models cost: dollars and tokens per day, model and purpose; per answer; period totals."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.period import Period, query_frame, query_row

_COST_BY_DAY = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, model, purpose,
       count(*) AS calls,
       coalesce(sum(tokens_in), 0)::bigint AS tokens_in,
       coalesce(sum(tokens_out), 0)::bigint AS tokens_out,
       sum(cost_usd)::float8 AS cost_usd,
       count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_calls
FROM model_calls
WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""

# One scan over both periods: the previous one ends where this one starts.
_CALL_TOTALS = """
SELECT coalesce(sum(cost_usd) FILTER (WHERE created_at >= :starts_at), 0)::float8 AS cost_usd,
       coalesce(sum(tokens_in) FILTER (WHERE created_at >= :starts_at), 0)::bigint AS tokens_in,
       coalesce(sum(tokens_out) FILTER (WHERE created_at >= :starts_at), 0)::bigint AS tokens_out,
       coalesce(array_agg(DISTINCT model ORDER BY model)
                FILTER (WHERE cost_usd IS NULL AND created_at >= :starts_at), '{}') AS unpriced_models,
       coalesce(sum(cost_usd) FILTER (WHERE created_at < :starts_at), 0)::float8 AS previous_cost_usd
FROM model_calls
WHERE is_demo = :demo AND created_at >= :previous_starts_at AND created_at < :ends_before
"""

_ANSWER_TOTALS = """
SELECT count(*) AS answers, count(DISTINCT conversation_id) AS conversations
FROM answers
WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before
"""

_COST_PER_ANSWER_BY_DAY = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS answers,
       sum(cost_usd)::float8 AS cost_usd,
       avg(cost_usd)::float8 AS cost_per_answer,
       count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_answers
FROM answers
WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before
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


def cost_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, model, purpose, calls, tokens_in, tokens_out, cost_usd, unpriced_calls.

    cost_usd sums the priced calls; it is NaN (unknown, not zero) when no call of the group is priced.
    """
    return query_frame(engine, _COST_BY_DAY, period.params())


def cost_totals(engine: Engine, period: Period) -> CostTotals:
    previous = period.previous()
    calls = query_row(engine, _CALL_TOTALS, period.params(previous_starts_at=previous.starts_at))
    answers = query_row(engine, _ANSWER_TOTALS, period.params())
    return CostTotals(
        cost_usd=calls.cost_usd,
        tokens_in=calls.tokens_in,
        tokens_out=calls.tokens_out,
        answers=answers.answers,
        conversations=answers.conversations,
        cost_per_answer=_per(calls.cost_usd, answers.answers),
        cost_per_conversation=_per(calls.cost_usd, answers.conversations),
        unpriced_models=list(calls.unpriced_models),
        previous_cost_usd=calls.previous_cost_usd,
        change_pct=_change_pct(calls.cost_usd, calls.previous_cost_usd),
    )


def cost_per_answer_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, answers, cost_usd, cost_per_answer, unpriced_answers (from answers.cost_usd).

    Answers of unknown cost are left out of the sum and the average and counted in unpriced_answers.
    """
    return query_frame(engine, _COST_PER_ANSWER_BY_DAY, period.params())


def _per(cost: float, count: int) -> float | None:
    return cost / count if count else None


def _change_pct(current: float, previous: float) -> float | None:
    return (current - previous) / previous * 100 if previous else None
