"""Who asks: questions, answered share and cost per signed-in person over a period."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.period import Period, query_frame

# Raw answers, not rollups: rollups are per day, not per person. The period's range on the
# created_at index keeps it to the period's rows.
_BY_PERSON = """
SELECT user_name AS person,
       count(*) AS questions,
       (count(*) FILTER (WHERE answered))::float8 / count(*) AS answered_share,
       sum(cost_usd)::float8 AS cost_usd,
       max(created_at) AS last_question
FROM answers
WHERE is_demo = :demo AND created_at >= :starts_at AND created_at < :ends_before AND in_figures
GROUP BY user_name
ORDER BY questions DESC, person
LIMIT :limit
"""


def questions_by_person(engine: Engine, period: Period, *, limit: int = 50) -> pd.DataFrame:
    """Columns person, questions, answered_share, cost_usd (NaN when no price is known), last_question."""
    return query_frame(engine, _BY_PERSON, period.params(limit=limit))
