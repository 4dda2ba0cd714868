"""What the models cost: dollars and tokens per day, model and purpose; per answer; per document;
period totals. Every model call counts here, re-asks included; "per answer" divides by the
answers in the figures (finished questions)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.period import Period, query_frame, query_row
from rag.analytics.rollups import A_LIVE_ANSWERS, CLOSED, LIVE_ANSWERS, LIVE_CALLS, rollup_params

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
WHERE {LIVE_CALLS}
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
    FROM model_calls WHERE {LIVE_CALLS}
    GROUP BY 1, 2
) AS c
"""

# Cache hits and what they saved (the original answers' cost less the hits' own) add up over days.
_CACHE_TOTALS = f"""
SELECT coalesce(sum(hits), 0)::bigint AS cache_hits, coalesce(sum(saved_usd), 0)::float8 AS saved_usd
FROM (
    SELECT cache_hits AS hits, saved_usd FROM rollup_answers WHERE {CLOSED}
    UNION ALL
    SELECT count(*), sum(saved_usd) FROM answers WHERE {LIVE_ANSWERS} AND cache_hit
) AS h
"""

# Distinct conversations add up over days: a conversation counts on its first day in the period,
# the day whose previous answer (gap_days before; 0: none) falls before the period.
_ANSWER_TOTALS = f"""
SELECT (SELECT coalesce(sum(questions), 0) FROM rollup_answers WHERE {CLOSED})
       + (SELECT count(*) FROM answers WHERE {LIVE_ANSWERS}) AS answers,
       (SELECT coalesce(sum(conversations), 0) FROM rollup_conversations
        WHERE {CLOSED} AND (gap_days = 0 OR day - gap_days < :first_day))
       + (SELECT count(DISTINCT a.conversation_id) FROM answers AS a
          WHERE {A_LIVE_ANSWERS} AND NOT EXISTS (
              SELECT 1 FROM answers AS b
              WHERE b.conversation_id = a.conversation_id AND b.is_demo = :demo AND b.in_figures
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
WHERE {LIVE_ANSWERS}
GROUP BY 1
ORDER BY 1
"""

# Per document, within the period: its ingestion (embedding calls of the period that stored it) and
# the finished answers that cited it (re-asks included: they cost too), each answer once per
# document. A deleted document's calls lost their document (one row, document NULL); its answers
# kept the title they cited it under. Rolled-up days recorded the document as it was then: one
# deleted since reads as "no document" here, as it does live. Unknown prices stay unknown: a part
# is NULL when it has rows and none is priced, the total when no part is priced.
_LIVE_CITED = """
SELECT DISTINCT a.id, s.document_id,
       CASE WHEN s.document_id IS NULL THEN s.document_title END AS deleted_title,
       a.tokens_in + a.tokens_out AS tokens, a.cost_usd
FROM answers AS a
JOIN answer_sources AS s ON s.answer_id = a.id AND s.cited
WHERE a.is_demo = :demo AND a.created_at >= :live_starts_at AND a.created_at < :ends_before
  AND a.state <> 'in_progress'
"""

_COST_PER_DOCUMENT = f"""
WITH parts AS (
    SELECT r.part, d.id AS document_id, CASE WHEN d.id IS NULL THEN r.document_title END AS deleted_title,
           r.items, r.tokens, r.cost_usd, r.unpriced
    FROM (SELECT * FROM rollup_document_cost WHERE {CLOSED}) AS r
    LEFT JOIN documents AS d ON d.id = r.document_id
    UNION ALL
    SELECT 'ingest', document_id, NULL, count(*), coalesce(sum(tokens_in), 0), sum(cost_usd),
           count(*) FILTER (WHERE cost_usd IS NULL)
    FROM model_calls
    WHERE purpose = 'ingest_embedding' AND {LIVE_CALLS}
    GROUP BY document_id
    UNION ALL
    SELECT 'answers', document_id, deleted_title, count(*), coalesce(sum(tokens), 0), sum(cost_usd),
           count(*) FILTER (WHERE cost_usd IS NULL)
    FROM ({_LIVE_CITED}) AS c
    GROUP BY 2, 3
), ingest AS (
    SELECT document_id, sum(items) AS calls, sum(tokens) AS tokens, sum(cost_usd) AS cost,
           sum(unpriced) AS unpriced
    FROM parts WHERE part = 'ingest'
    GROUP BY document_id
), cited AS (
    SELECT document_id, deleted_title, sum(items) AS answers, sum(tokens) AS tokens, sum(cost_usd) AS cost,
           sum(unpriced) AS unpriced
    FROM parts WHERE part = 'answers'
    GROUP BY 1, 2
), costs AS (
    SELECT coalesce(i.document_id, c.document_id) AS document_id,
           coalesce(d.title, c.deleted_title) AS document,
           coalesce(i.calls, 0) AS ingest_calls, coalesce(i.tokens, 0) AS ingest_tokens,
           CASE WHEN i.calls IS NULL THEN 0 ELSE i.cost END AS ingest_cost_usd,
           coalesce(c.answers, 0) AS answers, coalesce(c.tokens, 0) AS answer_tokens,
           CASE WHEN c.answers IS NULL THEN 0 ELSE c.cost END AS answers_cost_usd,
           CASE WHEN i.cost IS NOT NULL OR c.cost IS NOT NULL THEN coalesce(i.cost, 0) + coalesce(c.cost, 0)
           END AS total_cost_usd,
           coalesce(i.unpriced, 0) + coalesce(c.unpriced, 0) AS unpriced
    -- NULL never joins NULL: a deleted document's ingestion and its answers stay apart.
    FROM ingest AS i
    FULL JOIN cited AS c ON c.document_id = i.document_id
    LEFT JOIN documents AS d ON d.id = coalesce(i.document_id, c.document_id)
)
SELECT document_id, document, ingest_calls::bigint, ingest_tokens::bigint, ingest_cost_usd::float8,
       answers::bigint, answer_tokens::bigint, answers_cost_usd::float8, total_cost_usd::float8,
       unpriced::bigint
FROM costs
ORDER BY total_cost_usd DESC NULLS LAST, ingest_tokens + answer_tokens DESC, document, document_id
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


def cost_per_document(engine: Engine, period: Period) -> pd.DataFrame:
    """What each document cost in the period: to ingest, and through the answers that cited it.

    Columns document_id (pd.NA: deleted since), document (its title; the one answers recorded for a
    deleted document; missing for the ingestion of deleted or never stored documents), ingest_calls,
    ingest_tokens, ingest_cost_usd, answers (finished answers citing it, re-asks included),
    answer_tokens (their input and output), answers_cost_usd, total_cost_usd, unpriced (calls and
    answers of unknown cost). Costs are NaN when unknown. An answer citing two documents counts in
    full for both. Most expensive first, then most tokens.
    """
    params = rollup_params(engine, period)
    return query_frame(engine, _COST_PER_DOCUMENT, params, dtypes={"document_id": "Int64"})


def _per(cost: float, count: int) -> float | None:
    return cost / count if count else None


def _change_pct(current: float, previous: float) -> float | None:
    return (current - previous) / previous * 100 if previous else None
