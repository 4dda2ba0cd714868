"""Whether demo traffic exists, so pages offer the switch to it (and only then)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Answer


def demo_rows_exist(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.exists().where(Answer.is_demo))).scalar_one() is True
