"""Per-day rollups of closed UTC days, so a page reads 30 small row sets instead of every row.

A day is closed once it is over (UTC): its rows no longer change, except in the ways handled
here or in the database. Demo data writes past days and removes them: rag/demo/generate.py calls
`invalidate_rollups` for demo rows. Feedback may come days after its answer: a trigger (migration
0005) forgets the answer's day. An answer still in progress when its day closed is left out of the
figures until it finishes: another trigger (migration 0010) then forgets its day. Ingestion calls
given their document on a later day: a third (migration 0012). Deleting a document keeps its
citations (answers recorded their titles); reads map a document that is gone to "deleted". Today,
and any later day, is always read live from the raw tables.

A worker rolls up every closed day ahead of time (`roll_up_closed_days`, a periodic job of
`python -m rag worker`), so a page finds them done. A page still computes any day that is missing
(`ensure_rollups`): without a worker, or a day a trigger forgot since the worker's last run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rag.analytics.period import Period
from rag.analytics.rollup_sql import COMPUTE, TABLES

LOCK = 27491  # pg_advisory_xact_lock(LOCK, is_demo): one writer of a kind of rows' rollups at a time
# Days a worker computes per transaction: a page that finds a day missing waits for the lock at most
# this long (about 0.3 s a day at 33,000 answers a day).
BATCH_DAYS = 7
_DAY = timedelta(days=1)

# What the read queries filter on: rolled-up days, and the raw rows of the days still open.
# Answer figures count only the answers `in_figures` (finished questions: no re-asks, nothing in
# progress); the cost counts every model call.
CLOSED = "is_demo = :demo AND day BETWEEN :first_day AND :closed_last"
LIVE_CALLS = "is_demo = :demo AND created_at >= :live_starts_at AND created_at < :ends_before"
LIVE_ANSWERS = f"{LIVE_CALLS} AND in_figures"
A_LIVE_ANSWERS = (
    "a.is_demo = :demo AND a.created_at >= :live_starts_at AND a.created_at < :ends_before AND a.in_figures"
)

_MISSING = """
SELECT g.day::date AS day
FROM generate_series(CAST(:first AS timestamp), CAST(:last AS timestamp), interval '1 day') AS g(day)
WHERE NOT EXISTS (SELECT 1 FROM rollup_days AS r WHERE r.is_demo = :demo AND r.day = g.day::date)
ORDER BY 1
"""


# The first day with a row of a kind: no day before it needs a rollup.
_OLDEST = """
SELECT (least((SELECT min(created_at) FROM answers WHERE is_demo = :demo),
              (SELECT min(created_at) FROM model_calls WHERE is_demo = :demo)) AT TIME ZONE 'UTC')::date
"""


@dataclass(frozen=True)
class CaughtUp:
    """The days `roll_up_closed_days` computed, or `skipped` when another worker (or a page) was at
    them: it holds the rollup lock, and this one does not wait for it."""

    real: list[date] = field(default_factory=list)
    demo: list[date] = field(default_factory=list)
    skipped: bool = False

    def __str__(self) -> str:
        if self.skipped:
            return "another worker is rolling up the analytics"
        return f"rolled up {len(self.real)} real and {len(self.demo)} demo day(s)"


def today() -> date:
    """The first day that is not closed: the current UTC day."""
    return datetime.now(UTC).date()


def rollup_params(engine: Engine, period: Period, **extra: Any) -> dict[str, Any]:
    """`period.params(**extra)` plus :closed_last and :live_starts_at, after `ensure_rollups`.

    A query reads rollups for days from :first_day to :closed_last (none when it is earlier) and
    the raw tables from :live_starts_at to :ends_before (nothing when it is not earlier).
    """
    first_open = max(period.start, today())
    ensure_rollups(engine, period)
    return period.params(
        closed_last=min(period.end, first_open - _DAY),
        live_starts_at=datetime.combine(first_open, time(), UTC),
        **extra,
    )


def ensure_rollups(engine: Engine, period: Period) -> list[date]:
    """Roll up every closed day of `period` that is not yet; returns the days computed.

    One transaction under an advisory lock: a concurrent caller waits, then finds the days done.
    """
    last = min(period.end, today() - _DAY)
    if last < period.start or not _missing(engine, period.start, last, demo=period.demo):
        return []
    computed = _roll_up(engine, period.start, last, demo=period.demo, wait=True)
    assert computed is not None  # waited for the lock
    return computed


def roll_up_closed_days(engine: Engine, *, batch_days: int = BATCH_DAYS) -> CaughtUp:
    """Roll up every closed day since the first row, real and demo, that is not yet: the worker's
    periodic job, so page views find them done. Newest days first, `batch_days` per transaction.

    When nothing is missing this is four small indexed queries. Returns at once, `skipped`, while
    another process runs it.
    """
    if batch_days < 1:
        raise ValueError(f"batch_days must be at least 1, not {batch_days}")
    real, real_skipped = _catch_up(engine, demo=False, batch_days=batch_days)
    demo, demo_skipped = _catch_up(engine, demo=True, batch_days=batch_days)
    if (real_skipped or demo_skipped) and not (real or demo):
        return CaughtUp(skipped=True)
    return CaughtUp(real, demo)


def first_day(engine: Engine, *, demo: bool) -> date | None:
    """The UTC day of the first answer or model call of a kind (None: there is none)."""
    with engine.connect() as conn:
        day: date | None = conn.execute(sa.text(_OLDEST), {"demo": demo}).scalar_one()
    return day


def _catch_up(engine: Engine, *, demo: bool, batch_days: int) -> tuple[list[date], bool]:
    """The days computed, and whether a batch was left to someone else already computing."""
    first = first_day(engine, demo=demo)
    last = today() - _DAY
    if first is None or first > last:
        return [], False
    missing = _missing(engine, first, last, demo=demo)
    computed: list[date] = []
    for end in range(len(missing), 0, -batch_days):
        batch = missing[max(end - batch_days, 0) : end]
        done = _roll_up(engine, batch[0], batch[-1], demo=demo)
        if done is None:  # another worker (or a page) holds the lock: it is at these days
            return sorted(computed), True
        computed += done
    return sorted(computed), False


def _missing(engine: Engine, first: date, last: date, *, demo: bool) -> list[date]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(_MISSING), {"first": first, "last": last, "demo": demo}).scalars())


def _roll_up(engine: Engine, first: date, last: date, *, demo: bool, wait: bool = False) -> list[date] | None:
    """Compute the days from `first` to `last` still missing once the lock is held; returns them.

    A page waits for the lock (then finds the days done); the worker does not (None: someone else
    is at them). One transaction on one pooled connection: a pool of a single connection suffices.
    """
    with engine.begin() as conn:
        key = {"lock": LOCK, "demo": int(demo)}
        if wait:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:lock, :demo)"), key)
        elif not conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:lock, :demo)"), key).scalar_one():
            return None
        bounds = {"first": first, "last": last, "demo": demo}
        missing = list(conn.execute(sa.text(_MISSING), bounds).scalars())
        for start, end in _runs(missing):
            _compute(conn, start, end, demo=demo)
    return missing


def invalidate_rollups(
    bind: Engine | Connection, *, demo: bool | None = None, days: list[date] | None = None
) -> None:
    """Forget the rollups of `days` (all days when None) of demo or real rows (both when None).

    Pass the connection of the transaction that changed the rows, so nothing computed in between
    survives it.
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            invalidate_rollups(conn, demo=demo, days=days)
        return
    kinds = [False, True] if demo is None else [demo]
    for kind in kinds:
        bind.execute(sa.text("SELECT pg_advisory_xact_lock(:lock, :demo)"), {"lock": LOCK, "demo": int(kind)})
        where = "is_demo = :demo" + ("" if days is None else " AND day = ANY(:days)")
        for table in ("rollup_days", *TABLES):
            bind.execute(sa.text(f"DELETE FROM {table} WHERE {where}"), {"demo": kind, "days": days})


def _compute(conn: Connection, first: date, last: date, *, demo: bool) -> None:
    run = {"demo": demo, "from_day": first, "to_day": last}
    for table in TABLES:  # left behind when a trigger forgot the day
        conn.execute(
            sa.text(f"DELETE FROM {table} WHERE is_demo = :demo AND day BETWEEN :from_day AND :to_day"), run
        )
    at = {
        "from_at": datetime.combine(first, time(), UTC),
        "to_at": datetime.combine(last + _DAY, time(), UTC),
    }
    for statement in COMPUTE:
        conn.execute(sa.text(statement), run | at)


def _runs(days: list[date]) -> Iterator[tuple[date, date]]:
    """Consecutive days as (first, last) pairs: each run is read with one index range scan."""
    start = previous = None
    for day in days:
        if start is None or previous is None or day != previous + _DAY:
            if start is not None and previous is not None:
                yield start, previous
            start = day
        previous = day
    if start is not None and previous is not None:
        yield start, previous
