"""The period at a glance: questions, answered share, thumbs up, cost, latency, cited documents."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.latency_buckets import latency_buckets, percentile
from rag.analytics.period import Period, query_frame, query_row
from rag.analytics.rollups import A_LIVE_ANSWERS, CLOSED, LIVE_ANSWERS, LIVE_CALLS, rollup_params

# Ratios as numeric division, as avg() of integers computes them, so both paths agree to the bit.
_OVERVIEW = f"""
WITH q AS (
    SELECT sum(questions) AS questions, sum(answered) AS answered, sum(up) AS up, sum(down) AS down
    FROM (
        SELECT questions, answered, thumbs_up AS up, thumbs_down AS down FROM rollup_answers WHERE {CLOSED}
        UNION ALL
        SELECT count(*), count(*) FILTER (WHERE answered), 0, 0 FROM answers WHERE {LIVE_ANSWERS}
        UNION ALL
        SELECT 0, 0, count(*) FILTER (WHERE f.rating = 1), count(*) FILTER (WHERE f.rating = -1)
        FROM feedback AS f JOIN answers AS a ON a.id = f.answer_id
        WHERE {A_LIVE_ANSWERS}
    ) AS s
), cost AS (
    SELECT coalesce(sum(cost_usd), 0)::float8 AS cost_usd
    FROM (SELECT cost_usd FROM rollup_cost WHERE {CLOSED}
          UNION ALL
          SELECT sum(cost_usd) FROM model_calls WHERE {LIVE_CALLS}) AS s
)
SELECT q.questions::bigint AS questions,
       (q.answered / nullif(q.questions, 0))::float8 AS answered_share,
       (q.up / nullif(q.up + q.down, 0))::float8 AS thumbs_up_rate,
       cost.cost_usd
FROM q, cost
"""

_QUESTIONS_BY_DAY = f"""
SELECT g.day::date AS day,
       coalesce(q.questions, 0) AS questions,
       coalesce(q.answered, 0) AS answered,
       coalesce(q.questions - q.answered, 0) AS unanswered
FROM generate_series(CAST(:first_day AS timestamp), CAST(:last_day AS timestamp), interval '1 day')
     AS g(day)
LEFT JOIN (
    SELECT day, questions, answered FROM rollup_answers WHERE {CLOSED}
    UNION ALL
    SELECT (created_at AT TIME ZONE 'UTC')::date, count(*), count(*) FILTER (WHERE answered)
    FROM answers WHERE {LIVE_ANSWERS}
    GROUP BY 1
) AS q ON q.day = g.day::date
ORDER BY 1
"""

# Today's answers, then their cited sources by key: never a scan of every source.
_LIVE_SOURCES = f"""
SELECT s.answer_id, s.document_id, s.document_title
FROM answers AS a
CROSS JOIN LATERAL (SELECT * FROM answer_sources AS s WHERE s.answer_id = a.id AND s.cited) AS s
WHERE {A_LIVE_ANSWERS}
"""

# Per day and document as the answers recorded it; the current title wins while the document exists.
_CITATIONS = f"""
SELECT document_id, document_title, citations FROM rollup_citations WHERE {CLOSED}
UNION ALL
SELECT s.document_id, s.document_title, count(DISTINCT s.answer_id)
FROM ({_LIVE_SOURCES}) AS s
GROUP BY 1, 2
"""

# A deleted document keeps its citations under the title the answer recorded.
_MOST_CITED = f"""
SELECT d.id AS document_id, coalesce(d.title, c.document_title) AS document,
       sum(c.citations)::bigint AS citations
FROM ({_CITATIONS}) AS c
LEFT JOIN documents AS d ON d.id = c.document_id
GROUP BY 1, 2
ORDER BY citations DESC, document, document_id
LIMIT :limit
"""

_NEVER_CITED = f"""
SELECT d.id AS document_id, d.title AS document, d.filename, d.created_at AS uploaded
FROM documents AS d
WHERE d.knowledge_base_id = :kb_id AND d.created_at < :ends_before
  AND NOT EXISTS (SELECT 1 FROM rollup_citations AS c WHERE c.document_id = d.id AND c.{CLOSED})
  AND NOT EXISTS (
      SELECT 1 FROM answer_sources AS s JOIN answers AS a ON a.id = s.answer_id
      WHERE s.document_id = d.id AND s.cited AND {A_LIVE_ANSWERS})
ORDER BY d.title, d.id
"""


@dataclass(frozen=True)
class Overview:
    questions: int
    answered_share: float | None  # None without questions
    thumbs_up_rate: float | None  # up / (up + down) on the period's answers; None without feedback
    cost_usd: float  # priced model calls of the period, ingestion included
    # Of the period's answers, from 5%-wide log buckets: exact when the middle answer is the fastest
    # or slowest of its bucket, else interpolated within the bucket (off by less than 5%).
    median_latency_ms: float | None


def overview(engine: Engine, period: Period) -> Overview:
    params = rollup_params(engine, period)
    row = query_row(engine, _OVERVIEW, params)
    return Overview(
        questions=row.questions,
        answered_share=row.answered_share,
        thumbs_up_rate=row.thumbs_up_rate,
        cost_usd=row.cost_usd,
        median_latency_ms=percentile(latency_buckets(engine, params), 0.5),
    )


def questions_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, questions, answered, unanswered: one row for every day of the period, zeros included."""
    return query_frame(engine, _QUESTIONS_BY_DAY, rollup_params(engine, period))


def most_cited_documents(engine: Engine, period: Period, *, limit: int = 10) -> pd.DataFrame:
    """document_id, document, citations: the documents cited by the most answers of the period.

    document_id is missing (pd.NA) for a document deleted since; its title is the one answers recorded.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    params = rollup_params(engine, period, limit=limit)
    return query_frame(engine, _MOST_CITED, params, dtypes={"document_id": "Int64"})


def never_cited_documents(engine: Engine, kb_id: int, period: Period) -> pd.DataFrame:
    """document_id, document, filename, uploaded: documents of the knowledge base that existed by the
    end of the period and that no answer of the period cited."""
    return query_frame(engine, _NEVER_CITED, rollup_params(engine, period, kb_id=kb_id))
