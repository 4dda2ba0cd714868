"""Cost, latency and usage analytics: aggregated in PostgreSQL, returned as small frames.

Answer figures (questions, answered share, latency, citations, people, cost per answer) count the
answers `in_figures`: finished questions, never re-asks or answers still in progress. Cost counts
every model call.
"""

from rag.analytics.cost import (
    CostTotals,
    cost_by_day,
    cost_per_answer_by_day,
    cost_per_document,
    cost_totals,
)
from rag.analytics.latency import (
    PARTS,
    STAGES,
    StageTime,
    errors_by_day,
    latency_by_day,
    latency_histogram,
    slowest_answers,
    stage_time,
    stage_time_by_day,
    total_percentiles,
)
from rag.analytics.overview import (
    Overview,
    most_cited_documents,
    never_cited_documents,
    overview,
    questions_by_day,
)
from rag.analytics.period import Period
from rag.analytics.rollups import CaughtUp, ensure_rollups, invalidate_rollups, roll_up_closed_days

__all__ = [
    "PARTS",
    "STAGES",
    "CaughtUp",
    "CostTotals",
    "Overview",
    "Period",
    "StageTime",
    "cost_by_day",
    "cost_per_answer_by_day",
    "cost_per_document",
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
    "roll_up_closed_days",
    "slowest_answers",
    "stage_time",
    "stage_time_by_day",
    "total_percentiles",
]
