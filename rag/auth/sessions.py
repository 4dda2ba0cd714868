"""Signed-in browsers, kept in PostgreSQL so that any app process recognises them.

The browser holds only a random token (its cookie); the table holds the token's SHA-256, so a copy
of the database signs no one in. A session ends when it expires (SESSION_HOURS after its last use),
when it is revoked (sign-out), or when its account changes password or is deactivated (all of the
account's sessions are revoked in the same transaction as the change).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.models import User, UserSession
from rag.auth.accounts import ACCOUNT_COLUMNS, Account, account_from
from rag.errors import InvalidInput

# A session's last use is written at most this often: a write per click would cost more than the
# minute of expiry it can be off by.
TOUCH_EVERY = timedelta(minutes=1)
# Ended sessions stay this long (who signed in from where), then go with the next sign-in.
KEEP_ENDED = timedelta(days=30)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(conn: Connection, user_id: int, *, hours: float, client_address: str | None) -> str:
    """A new session on the caller's connection; returns the token, which is stored nowhere else."""
    token = secrets.token_urlsafe(32)
    conn.execute(sa.delete(UserSession).where(UserSession.expires_at < sa.func.now() - KEEP_ENDED))
    conn.execute(
        sa.insert(UserSession).values(
            token_hash=token_hash(token),
            user_id=user_id,
            expires_at=sa.func.now() + timedelta(hours=hours),
            client_address=client_address,
        )
    )
    return token


def open_session(engine: Engine, account: Account, *, hours: float, client_address: str | None) -> str:
    """A session for an account that has just proven who it is (a sign-in, the first run)."""
    with engine.begin() as conn:
        return create_session(conn, account.id, hours=hours, client_address=client_address)


def session_account(engine: Engine, token: str, *, hours: float) -> Account | None:
    """The account of a live session (not expired, not revoked, account active), read afresh;
    using it slides the session's expiry to `hours` from now."""
    found = (
        sa.select(*ACCOUNT_COLUMNS, UserSession.last_seen_at, sa.func.now().label("now"))
        .join(User, User.id == UserSession.user_id)
        .where(
            UserSession.token_hash == token_hash(token),
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > sa.func.now(),
            User.active,
        )
    )
    with engine.connect() as conn:
        row = conn.execute(found).first()
        if row is None:
            return None
        if row.now - row.last_seen_at >= TOUCH_EVERY:
            conn.execute(
                sa.update(UserSession)
                .where(UserSession.token_hash == token_hash(token))
                .values(last_seen_at=row.now, expires_at=row.now + timedelta(hours=hours))
            )
            conn.commit()
    return account_from(row)


def revoke_session(engine: Engine, token: str) -> None:
    """Sign-out: this token signs no one in any more, in any process."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(UserSession)
            .where(UserSession.token_hash == token_hash(token), UserSession.revoked_at.is_(None))
            .values(revoked_at=sa.func.now())
        )


def revoke_sessions(conn: Connection, user_id: int) -> int:
    """Every live session of an account, on the caller's connection (it commits with the change
    that called for it); returns how many were revoked."""
    result = conn.execute(
        sa.update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
    )
    return int(result.rowcount)


def revoke_account_sessions(engine: Engine, email: str) -> int:
    """Signs an account out everywhere (e.g. a lost laptop); returns how many sessions ended."""
    with engine.begin() as conn:
        user_id = conn.execute(sa.select(User.id).where(User.email == email.strip().lower())).scalar()
        if user_id is None:
            raise InvalidInput(f"There is no account for {email.strip()}.")
        return revoke_sessions(conn, user_id)
