"""The period at a glance: questions, answered share, thumbs up, cost, latency, cited documents."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.period import Period, query_frame, query_row

_OVERVIEW = """
WITH questions AS (
    SELECT count(*) AS questions,
           avg(answered::int)::float8 AS answered_share,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY total_ms) AS median_latency_ms
    FROM answers
    WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before
), ratings AS (
    SELECT avg((f.rating = 1)::int)::float8 AS thumbs_up_rate
    FROM feedback AS f JOIN answers AS a ON a.id = f.answer_id
    WHERE a.is_demo = :demo AND a.created_at >= :starts_at AND a.created_at < :ends_before
), cost AS (
    SELECT coalesce(sum(cost_usd), 0)::float8 AS cost_usd
    FROM model_calls
    WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before
)
SELECT * FROM questions, ratings, cost
"""

_QUESTIONS_BY_DAY = """
SELECT g.day::date AS day,
       coalesce(q.questions, 0) AS questions,
       coalesce(q.answered, 0) AS answered,
       coalesce(q.questions - q.answered, 0) AS unanswered
FROM generate_series(CAST(:first_day AS timestamp), CAST(:last_day AS timestamp), interval '1 day')
     AS g(day)
LEFT JOIN (
    SELECT (a.created_at AT TIME ZONE 'UTC')::date AS day,
           count(*) AS questions, count(*) FILTER (WHERE a.answered) AS answered
    FROM answers AS a
    WHERE a.is_demo = :demo AND a.created_at >= :starts_at AND a.created_at < :ends_before
    GROUP BY 1
) AS q ON q.day = g.day::date
ORDER BY 1
"""

# A deleted document keeps its citations under the title the answer recorded.
_MOST_CITED = """
SELECT s.document_id, coalesce(d.title, s.document_title) AS document,
       count(DISTINCT s.answer_id) AS citations
FROM answer_sources AS s
JOIN answers AS a ON a.id = s.answer_id
LEFT JOIN documents AS d ON d.id = s.document_id
WHERE s.cited AND a.is_demo = :demo AND a.created_at >= :starts_at AND a.created_at < :ends_before
GROUP BY 1, 2
ORDER BY citations DESC, document, document_id
LIMIT :limit
"""

_NEVER_CITED = """
SELECT d.id AS document_id, d.title AS document, d.filename, d.created_at AS uploaded
FROM documents AS d
WHERE d.knowledge_base_id = :kb_id AND d.created_at < :ends_before
  AND NOT EXISTS (
      SELECT 1 FROM answer_sources AS s JOIN answers AS a ON a.id = s.answer_id
      WHERE s.document_id = d.id AND s.cited
        AND a.is_demo = :demo AND a.created_at >= :starts_at AND a.created_at < :ends_before)
ORDER BY d.title, d.id
"""


@dataclass(frozen=True)
class Overview:
    questions: int
    answered_share: float | None  # None without questions
    thumbs_up_rate: float | None  # up / (up + down) on the period's answers; None without feedback
    cost_usd: float  # priced model calls of the period, ingestion included
    median_latency_ms: float | None


def overview(engine: Engine, period: Period) -> Overview:
    row = query_row(engine, _OVERVIEW, period.params())
    return Overview(
        questions=row.questions,
        answered_share=row.answered_share,
        thumbs_up_rate=row.thumbs_up_rate,
        cost_usd=row.cost_usd,
        median_latency_ms=row.median_latency_ms,
    )


def questions_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """day, questions, answered, unanswered: one row for every day of the period, zeros included."""
    return query_frame(engine, _QUESTIONS_BY_DAY, period.params())


def most_cited_documents(engine: Engine, period: Period, *, limit: int = 10) -> pd.DataFrame:
    """document_id, document, citations: the documents cited by the most answers of the period.

    document_id is missing (pd.NA) for a document deleted since; its title is the one answers recorded.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return query_frame(engine, _MOST_CITED, period.params(limit=limit), dtypes={"document_id": "Int64"})


def never_cited_documents(engine: Engine, kb_id: int, period: Period) -> pd.DataFrame:
    """document_id, document, filename, uploaded: documents of the knowledge base that existed by the
    end of the period and that no answer of the period cited."""
    return query_frame(engine, _NEVER_CITED, period.params(kb_id=kb_id))
