"""Engine factory: one pooled engine per process, checked before use so a restarted server is fine."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int | None = None) -> Engine:
    """`max_overflow` extra connections beyond `pool_size` under load (default: as many again)."""
    return sa.create_engine(
        normalise_url(url),
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
    )


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and use the psycopg2 driver."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)
