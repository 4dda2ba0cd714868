"""Alembic environment: runs on the connection db.migrate hands over, or on sqlalchemy.url."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

import db.rollup_models  # noqa: F401  (registers the rollup tables on Base.metadata)
from db.migrate import ours
from db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, include_name=ours)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
