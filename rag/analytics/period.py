"""The reporting period every analytics query takes, and how a query binds it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """Whole UTC days from `start` to `end` inclusive, over demo rows or real ones (never both)."""

    start: date
    end: date  # inclusive
    demo: bool = False

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def last_days(cls, days: int, *, today: date | None = None, demo: bool = False) -> Period:
        """The `days` days ending with `today` (UTC by default), today included."""
        if days < 1:
            raise ValueError(f"a period has at least one day, not {days}")
        end = today or datetime.now(UTC).date()
        return cls(end - timedelta(days=days - 1), end, demo)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        return Period(self.start - timedelta(days=self.days), self.start - _DAY, self.demo)

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(), UTC)

    @property
    def ends_before(self) -> datetime:
        return datetime.combine(self.end + _DAY, time(), UTC)

    def params(self, **extra: Any) -> dict[str, Any]:
        """Bound parameters :demo, :starts_at, :ends_before, :first_day, :last_day, plus `extra`."""
        return {
            "demo": self.demo,
            "starts_at": self.starts_at,
            "ends_before": self.ends_before,
            "first_day": self.start,
            "last_day": self.end,
            **extra,
        }


def query_frame(
    engine: Engine, sql: str, params: dict[str, Any], *, dtypes: dict[str, str] | None = None
) -> pd.DataFrame:
    """The (small, already aggregated) result of `sql` as a DataFrame, columns as the query names them.

    `dtypes` fixes columns pandas would guess wrong, such as integer ids that may be NULL ("Int64").
    """
    with engine.connect() as conn:
        result = conn.execute(sa.text(sql), params)
        frame = pd.DataFrame([tuple(row) for row in result], columns=list(result.keys()))
    return frame.astype(dtypes) if dtypes else frame


def query_row(engine: Engine, sql: str, params: dict[str, Any]) -> sa.Row[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).one()
