"""The one-time setup code: while there is no account, only someone who can read the server's log
(or run `python -m rag setup-code` on it) may create the first manager.

One code at a time, in PostgreSQL (any app process may show the form, any may have printed the
code), kept as its SHA-256, valid for `SETUP_CODE_HOURS`, deleted by the first manager's creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from db.models import SetupCode, User
from rag.errors import InvalidInput

SETUP_CODE_HOURS = 24
# No 0/O, 1/I/L: read from a terminal, typed into a form. 12 of 31 characters: about 59 bits.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_GROUPS, _GROUP_CHARS = 3, 4
# Any two first-run steps (issuing a code, creating the first manager) serialise on this lock.
_FIRST_RUN_LOCK = 61_006


def lock_first_run(conn: Connection) -> None:
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_FIRST_RUN_LOCK)))


def new_setup_code(engine: Engine) -> str:
    """A fresh code, replacing any earlier one (for an operator who lost the log)."""
    with engine.begin() as conn:
        lock_first_run(conn)
        _refuse_when_accounts_exist(conn)
        return _issue(conn)


def ensure_setup_code(engine: Engine) -> str | None:
    """A new code if there is no account and no live code (none yet, or the last one expired);
    None otherwise. The caller prints what it gets: it is the only copy."""
    with engine.begin() as conn:
        lock_first_run(conn)
        if _accounts_exist(conn):
            return None
        live = sa.select(SetupCode.id).where(SetupCode.expires_at > sa.func.now())
        if conn.execute(live).first() is not None:
            return None
        return _issue(conn)


def announce_setup_code(engine: Engine) -> None:
    """Print a new code to the server's log (stderr) when `ensure_setup_code` issues one: the log is
    its only copy. The worker does it at start, the app when it shows the first-run form."""
    if (code := ensure_setup_code(engine)) is not None:
        print(setup_code_message(code), file=sys.stderr, flush=True)


def setup_code_matches(conn: Connection, code: str, now: datetime) -> bool:
    """Whether `code` is the live one (spaces, dashes and case aside)."""
    stored = conn.execute(sa.select(SetupCode.code_hash).where(SetupCode.expires_at > now)).scalar()
    return stored is not None and hmac.compare_digest(stored, _digest(_normalise(code)))


def consume_setup_code(conn: Connection) -> None:
    conn.execute(sa.delete(SetupCode))


def setup_code_message(code: str) -> str:
    """The line printed to the server's log."""
    return (
        f"Knowledge Console setup code: {code} (enter it on the first-run form to create the first "
        f"manager account; valid for {SETUP_CODE_HOURS} hours, once)"
    )


def _issue(conn: Connection) -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP_CHARS))
    expires = sa.func.now() + timedelta(hours=SETUP_CODE_HOURS)
    values = {"code_hash": _digest(raw), "created_at": sa.func.now(), "expires_at": expires}
    conn.execute(
        pg_insert(SetupCode)
        .values(id=1, **values)
        .on_conflict_do_update(index_elements=[SetupCode.id], set_=values)
    )
    return "-".join(raw[i : i + _GROUP_CHARS] for i in range(0, len(raw), _GROUP_CHARS))


def _accounts_exist(conn: Connection) -> bool:
    return conn.execute(sa.select(User.id).limit(1)).first() is not None


def _refuse_when_accounts_exist(conn: Connection) -> None:
    if _accounts_exist(conn):
        raise InvalidInput("Accounts exist already: no setup code is needed. Sign in, or ask a manager.")


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
