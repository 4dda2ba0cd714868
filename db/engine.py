"""Engine factory: one pooled engine per process, checked before use so a restarted server is fine."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int | None = None, statement_timeout_s: float = 0
) -> Engine:
    """A pooled engine with `max_overflow` extra connections under load (default: as many again);
    `statement_timeout_s` > 0 cancels any statement that runs longer."""
    # Set at connection start, so a reconnect after a server restart has it too.
    options = {"options": f"-c statement_timeout={round(statement_timeout_s * 1000)}"}
    return sa.create_engine(
        normalise_url(url),
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        connect_args=options if statement_timeout_s > 0 else {},
    )


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and use the psycopg2 driver."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)
