"""Bring a database's schema to the newest migration; safe to call from many processes at once."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 7_413_001  # pg_advisory_lock key: only one process migrates at a time


def ours(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic's `include_name`: the tables of the models, not procrastinate's (its own schema)."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(engine: Engine) -> None:
    with engine.connect() as conn:
        # Building an index over a large table may take longer than any request should.
        conn.execute(sa.text("SET statement_timeout = 0"))
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        try:
            conn.commit()
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            conn.execute(sa.text("RESET statement_timeout"))
            conn.commit()


def is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head
