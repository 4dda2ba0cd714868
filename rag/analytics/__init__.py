"""Cost, latency and usage analytics: aggregated in PostgreSQL, returned as small frames."""

from rag.analytics.cost import CostTotals, cost_by_day, cost_per_answer_by_day, cost_totals
from rag.analytics.latency import (
    STAGES,
    errors_by_day,
    latency_by_day,
    latency_histogram,
    slowest_answers,
)
from rag.analytics.overview import (
    Overview,
    most_cited_documents,
    never_cited_documents,
    overview,
    questions_by_day,
)
from rag.analytics.period import Period
from rag.analytics.rollups import ensure_rollups, invalidate_rollups

__all__ = [
    "STAGES",
    "CostTotals",
    "Overview",
    "Period",
    "cost_by_day",
    "cost_per_answer_by_day",
    "cost_totals",
    "ensure_rollups",
    "errors_by_day",
    "invalidate_rollups",
    "latency_by_day",
    "latency_histogram",
    "most_cited_documents",
    "never_cited_documents",
    "overview",
    "questions_by_day",
    "slowest_answers",
]
