"""Slowing password guessing down, per account and per client address.

An account locks after `max_failures` wrong passwords in a row (its own columns in `users`). An
address is refused after `address_max_failures` failures of any kind within `address_window_s`
(rows in `sign_in_failures`), so trying one password on many accounts from one place is slowed
as much as trying many passwords on one account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.models import SignInFailure

MAX_ADDRESS_CHARS = 200  # an address comes from a header: bound what is stored


@dataclass(frozen=True)
class SignInLimits:
    max_failures: int = 5  # wrong passwords in a row before an account locks
    lockout_s: float = 300.0  # how long it stays locked
    address_max_failures: int = 20  # failures from one address before it is refused; 0: no limit
    address_window_s: float = 900.0  # ... within this many seconds

    @property
    def address_window(self) -> timedelta:
        return timedelta(seconds=self.address_window_s)


def address_blocked(conn: Connection, address: str, limits: SignInLimits, now: datetime) -> bool:
    """Whether `address` has failed too often lately to be given another try."""
    if limits.address_max_failures <= 0:
        return False
    recent = (
        sa.select(sa.literal(1))
        .where(
            SignInFailure.client_address == address[:MAX_ADDRESS_CHARS],
            SignInFailure.created_at > now - limits.address_window,
        )
        .limit(limits.address_max_failures)  # counting further would change nothing
        .subquery()
    )
    count = conn.execute(sa.select(sa.func.count()).select_from(recent)).scalar_one()
    return bool(count >= limits.address_max_failures)


def record_failure(
    conn: Connection, *, address: str, email: str, limits: SignInLimits, now: datetime
) -> None:
    """One more failure from `address`; failures too old to count any more are deleted on the way."""
    conn.execute(
        sa.insert(SignInFailure).values(client_address=address[:MAX_ADDRESS_CHARS], email=email[:320])
    )
    conn.execute(sa.delete(SignInFailure).where(SignInFailure.created_at < now - limits.address_window))
