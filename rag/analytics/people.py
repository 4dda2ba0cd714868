"""Who asks: questions, answered share and cost per signed-in person over a period."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.period import Period, query_frame
from rag.analytics.rollups import CLOSED, LIVE_ANSWERS, rollup_params

# Per day and person from the rollups, today's from the raw answers, then added up per person:
# counts, exact sums and maxima add up over days.
_BY_PERSON = f"""
SELECT user_name AS person,
       sum(questions)::bigint AS questions,
       sum(answered)::float8 / sum(questions)::float8 AS answered_share,
       sum(cost_usd)::float8 AS cost_usd,
       max(last_question) AS last_question
FROM (
    SELECT user_name, questions, answered, cost_usd, last_question FROM rollup_people WHERE {CLOSED}
    UNION ALL
    SELECT user_name, count(*), count(*) FILTER (WHERE answered), sum(cost_usd), max(created_at)
    FROM answers WHERE {LIVE_ANSWERS}
    GROUP BY user_name
) AS p
GROUP BY user_name
ORDER BY questions DESC, person
LIMIT :limit
"""


def questions_by_person(engine: Engine, period: Period, *, limit: int = 50) -> pd.DataFrame:
    """Columns person, questions, answered_share, cost_usd (NaN when no price is known), last_question."""
    return query_frame(engine, _BY_PERSON, rollup_params(engine, period, limit=limit))
