"""How the gap loop performs: time from a group's first unanswered question to its resolution, and
the share of questions given a curated answer. Aggregated in PostgreSQL over the gaps and answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from rag.analytics.period import Period, query_frame, query_row

_RESOLVED = """
SELECT id AS gap_id, title, first_seen, resolved_at,
       extract(epoch FROM resolved_at - first_seen)::float8 / 86400 AS days_to_resolve,
       resolved_by, answered_document_title AS answered_document, note
FROM gaps
WHERE is_demo = :demo AND state = 'resolved' AND resolved_at >= :starts_at AND resolved_at < :ends_before
ORDER BY resolved_at DESC, id DESC
"""
# One row per week (Monday) that overlaps the period, zeros included.
_WEEKLY = """
SELECT w.week::date AS week, count(g.id) AS resolved,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY g.days) AS median_days,
       avg(g.days) AS mean_days
FROM generate_series(date_trunc('week', CAST(:first_day AS timestamp)),
                     date_trunc('week', CAST(:last_day AS timestamp)), interval '1 week') AS w(week)
LEFT JOIN (
    SELECT id, date_trunc('week', resolved_at AT TIME ZONE 'UTC') AS week,
           extract(epoch FROM resolved_at - first_seen)::float8 / 86400 AS days
    FROM gaps
    WHERE is_demo = :demo AND state = 'resolved' AND resolved_at >= :starts_at AND resolved_at < :ends_before
) AS g ON g.week = w.week
GROUP BY w.week
ORDER BY w.week
"""
_CURATED = """
SELECT count(*) AS questions, count(*) FILTER (WHERE curated_answer_id IS NOT NULL) AS curated
FROM answers
WHERE is_demo = :demo AND in_figures AND created_at >= :starts_at AND created_at < :ends_before
"""
_CURATED_DAILY = """
SELECT d.day::date AS day, count(a.id) AS questions,
       count(a.id) FILTER (WHERE a.curated_answer_id IS NOT NULL) AS curated
FROM generate_series(CAST(:first_day AS timestamp), CAST(:last_day AS timestamp), interval '1 day') AS d(day)
LEFT JOIN answers AS a
  ON a.is_demo = :demo AND a.in_figures
 AND a.created_at >= d.day AT TIME ZONE 'UTC' AND a.created_at < (d.day + interval '1 day') AT TIME ZONE 'UTC'
GROUP BY d.day
ORDER BY d.day
"""


@dataclass(frozen=True)
class CuratedShare:
    questions: int
    curated: int  # given a curated answer

    @property
    def share(self) -> float:
        return self.curated / self.questions if self.questions else 0.0


def resolution_times(engine: Engine, period: Period) -> pd.DataFrame:
    """Groups resolved in the period, newest first: gap_id, title, first_seen, resolved_at,
    days_to_resolve, resolved_by, answered_document, note."""
    return query_frame(engine, _RESOLVED, period.params())


def resolution_trend(engine: Engine, period: Period) -> pd.DataFrame:
    """Per week (its Monday): groups resolved, median and mean days from first question to
    resolution (NaN in a week without any)."""
    frame = query_frame(engine, _WEEKLY, period.params())
    return frame.astype({"resolved": "int64", "median_days": "float64", "mean_days": "float64"})


def curated_share(engine: Engine, period: Period) -> CuratedShare:
    """Questions in the period, and how many were given a curated answer."""
    row = query_row(engine, _CURATED, period.params())
    return CuratedShare(int(row.questions), int(row.curated))


def curated_share_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """Per day: questions, curated, share (0 on a day without questions)."""
    frame = query_frame(engine, _CURATED_DAILY, period.params())
    frame["share"] = (frame["curated"] / frame["questions"].where(frame["questions"] > 0)).fillna(0.0)
    return frame
