"""Accounts: adding people, their roles, passwords and deactivation; signing in, throttled.

Every change that should end the account's signed-in sessions (a new password, deactivation)
revokes them in the same transaction, so no process keeps serving the old state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from db.models import User
from rag.auth.accounts import (
    ACCOUNT_COLUMNS,
    Account,
    account_from,
    get_account,
    list_accounts,
    normalize_email,
    user_count,
)
from rag.auth.audit import record_action
from rag.auth.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from rag.auth.roles import MANAGER, check_role
from rag.auth.sessions import create_session, revoke_sessions
from rag.auth.setup_code import consume_setup_code, lock_first_run, setup_code_matches
from rag.auth.throttle import SignInLimits, address_blocked, record_failure
from rag.errors import InvalidInput, SignInRefused

__all__ = [
    "DEACTIVATED",
    "WRONG_CREDENTIALS",
    "WRONG_SETUP_CODE",
    "Account",
    "add_user",
    "change_own_password",
    "change_role",
    "create_first_manager",
    "get_account",
    "list_accounts",
    "normalize_email",
    "set_active",
    "set_password",
    "sign_in",
    "user_count",
]

# The one answer to every refused sign-in: an unknown email, a wrong password, a locked account
# and an address that failed too often must look alike to someone guessing.
WRONG_CREDENTIALS = "Wrong email or password."
DEACTIVATED = "This account is deactivated: ask a manager."  # told only to someone with the password
WRONG_CURRENT = "The current password is wrong."
TOO_MANY = "Too many failed attempts: try again in a few minutes."
WRONG_SETUP_CODE = (
    "Wrong or expired setup code. The server's log shows the current one "
    "(or run `python -m rag setup-code` on the server for a new one)."
)
# Role changes and (de)activations serialise on this lock, so two managers removing each other at
# once cannot both count the other as the one who stays.
_MANAGERS_LOCK = 61_007

Verdict = Literal["right", "wrong", "refused"]  # refused: not even checked (locked, throttled)


def add_user(
    engine: Engine,
    email: str,
    role: str,
    *,
    actor: str,
    password: str | None = None,
    name: str = "",
    temporary: bool = False,
) -> Account:
    """A new account; without a password it can only sign in through OIDC (or after a reset).
    A `temporary` password must be changed at the first sign-in, before anything else."""
    with engine.begin() as conn:
        return _insert(conn, email, role, actor=actor, password=password, name=name, temporary=temporary)


def create_first_manager(
    engine: Engine,
    email: str,
    password: str,
    *,
    setup_code: str,
    limits: SignInLimits,
    client_address: str,
    name: str = "",
) -> Account:
    """The first-run step: a manager account, only while there is no account at all, and only with
    the live setup code, which it uses up. Wrong codes count as failed sign-ins of the address."""
    refusal: str | None = None
    with engine.begin() as conn:
        lock_first_run(conn)
        if conn.execute(sa.select(sa.func.count()).select_from(User)).scalar_one():
            raise InvalidInput("An account exists already: sign in, or ask a manager to add you.")
        now = _now(conn)
        if address_blocked(conn, client_address, limits, now):
            refusal = TOO_MANY
        elif not setup_code_matches(conn, setup_code, now):
            record_failure(conn, address=client_address, email=email, limits=limits, now=now)
            refusal = WRONG_SETUP_CODE
        else:
            consume_setup_code(conn)
            return _insert(
                conn, email, MANAGER, actor="first run", password=password, name=name, temporary=False
            )
    raise SignInRefused(refusal)  # after the commit, so the failure stays counted


def _insert(
    conn: Connection, email: str, role: str, *, actor: str, password: str | None, name: str, temporary: bool
) -> Account:
    address = normalize_email(email)
    check_role(role)
    hashed = None if password is None else hash_password(password)
    inserted = conn.execute(
        pg_insert(User)
        .values(
            email=address,
            name=name.strip(),
            role=role,
            password_hash=hashed,
            must_change_password=temporary and hashed is not None,
            created_by=actor,
        )
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(*ACCOUNT_COLUMNS)
    ).first()
    if inserted is None:
        raise InvalidInput(f"{address} already has an account.")
    record_action(conn, actor=actor, action="user_added", target=address, role=role)
    return account_from(inserted)


def change_role(engine: Engine, email: str, role: str, *, actor: str) -> None:
    """Signed-in sessions keep going: every run reads the account, so the new role applies at once."""
    check_role(role)
    with engine.begin() as conn:
        _lock_managers(conn)
        old = _locked_user(conn, email)
        if old.role == role:
            return
        if old.role == MANAGER:
            _keep_a_manager(conn, old.email, "take the manager role from")
        conn.execute(sa.update(User).where(User.id == old.id).values(role=role))
        record_action(conn, actor=actor, action="role_changed", target=old.email, old=old.role, new=role)


def set_active(engine: Engine, email: str, active: bool, *, actor: str) -> None:
    """Deactivated accounts cannot sign in, and their sessions are revoked."""
    with engine.begin() as conn:
        _lock_managers(conn)
        user = _locked_user(conn, email)
        if user.active == active:
            return
        if not active and user.role == MANAGER:
            _keep_a_manager(conn, user.email, "deactivate")
        conn.execute(sa.update(User).where(User.id == user.id).values(active=active))
        if not active:
            revoke_sessions(conn, user.id)
        action = "user_reactivated" if active else "user_deactivated"
        record_action(conn, actor=actor, action=action, target=user.email)


def set_password(engine: Engine, email: str, password: str, *, actor: str, temporary: bool) -> None:
    """A password set for someone (a manager's reset, the CLI): it lifts a sign-in lock and signs the
    account out everywhere. A `temporary` one must be changed at the next sign-in."""
    hashed = hash_password(password)
    with engine.begin() as conn:
        user = _locked_user(conn, email)
        conn.execute(
            sa.update(User)
            .where(User.id == user.id)
            .values(password_hash=hashed, failed_logins=0, locked_until=None, must_change_password=temporary)
        )
        revoke_sessions(conn, user.id)
        record_action(conn, actor=actor, action="password_set", target=user.email, temporary=temporary)


_UserRow = sa.Row[int, str, str, bool, str | None, int, datetime | None]
_ROW = (
    User.id,
    User.email,
    User.role,
    User.active,
    User.password_hash,
    User.failed_logins,
    User.locked_until,
)


def _user_for_update(conn: Connection, email: str) -> _UserRow | None:
    return conn.execute(sa.select(*_ROW).where(User.email == email.strip().lower()).with_for_update()).first()


def _locked_user(conn: Connection, email: str) -> _UserRow:
    user = _user_for_update(conn, email)
    if user is None:
        raise InvalidInput(f"There is no account for {email.strip()}.")
    return user


def _lock_managers(conn: Connection) -> None:
    """Taken before the account is read: each statement after it sees every change committed by
    whoever held it before (READ COMMITTED), so the count in `_keep_a_manager` is current."""
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MANAGERS_LOCK)))


def _keep_a_manager(conn: Connection, email: str, what: str) -> None:
    others = conn.execute(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.role == MANAGER, User.active, User.email != email)
    ).scalar_one()
    if not others:
        raise InvalidInput(f"Cannot {what} the last active manager: make someone else a manager first.")


def sign_in(
    engine: Engine, email: str, password: str, *, limits: SignInLimits, client_address: str
) -> Account:
    """The account if the password is right; otherwise SignInRefused.

    Every refusal (unknown email, wrong password, a locked account, an address that failed too
    often) has the same message and costs the same one Argon2 verification. After
    `limits.max_failures` wrong passwords in a row the account refuses every attempt for
    `limits.lockout_s` seconds; deactivation is only revealed to someone with the password.
    """
    address = email.strip().lower()
    refusal: str | None = None
    with engine.begin() as conn:
        now = _now(conn)
        user = _user_for_update(conn, address)
        verdict = _check_password(
            conn, user, password, email=address, client=client_address, limits=limits, now=now
        )
        if verdict != "right" or user is None:
            refusal = WRONG_CREDENTIALS
        elif not user.active:
            refusal = DEACTIVATED
        else:
            _signed_in(conn, user, password, now)
    if refusal is not None:  # raised after the commit, so the failure stays counted
        raise SignInRefused(refusal)
    account = get_account(engine, address)
    assert account is not None
    return account


def change_own_password(
    engine: Engine,
    email: str,
    current: str,
    new: str,
    *,
    limits: SignInLimits,
    client_address: str,
    session_hours: float,
) -> str:
    """A person's own new password, if `current` is right (checked and throttled as a sign-in is).

    One transaction: the new hash, a temporary password's flag cleared, every session of the
    account revoked (other tabs and devices are signed out) and a fresh one opened for the caller,
    whose token is returned.
    """
    if new == current:
        raise InvalidInput("Choose a new password, not the current one.")
    hashed = hash_password(new)  # the rules are checked before the current password is
    refusal: str | None = None
    with engine.begin() as conn:
        now = _now(conn)
        user = _locked_user(conn, email)
        verdict = _check_password(
            conn, user, current, email=user.email, client=client_address, limits=limits, now=now
        )
        if verdict != "right":
            refusal = WRONG_CURRENT if verdict == "wrong" else TOO_MANY
        elif not user.active:
            refusal = DEACTIVATED
        else:
            conn.execute(
                sa.update(User)
                .where(User.id == user.id)
                .values(password_hash=hashed, must_change_password=False, failed_logins=0, locked_until=None)
            )
            revoke_sessions(conn, user.id)
            record_action(conn, actor=user.email, action="password_changed", target=user.email)
            token = create_session(conn, user.id, hours=session_hours, client_address=client_address)
    if refusal is not None:  # after the commit, so the failure stays counted
        raise SignInRefused(refusal)
    return token


def _now(conn: Connection) -> datetime:
    return conn.execute(sa.select(sa.func.now())).scalar_one()  # type: ignore[no-any-return]


def _check_password(
    conn: Connection,
    user: _UserRow | None,
    password: str,
    *,
    email: str,
    client: str,
    limits: SignInLimits,
    now: datetime,
) -> Verdict:
    """One Argon2 verification whatever happens (against a dummy hash when there is nothing to check),
    so the time taken tells nothing; failures are counted for the account and the address."""
    if address_blocked(conn, client, limits, now):
        verify_password(DUMMY_HASH, password)
        return "refused"  # and no row added: the address's window ends as it began
    if user is None or user.password_hash is None:
        verify_password(DUMMY_HASH, password)
        record_failure(conn, address=client, email=email, limits=limits, now=now)
        return "wrong"
    if user.locked_until is not None and user.locked_until > now:
        verify_password(DUMMY_HASH, password)
        record_failure(conn, address=client, email=email, limits=limits, now=now)
        return "refused"
    if verify_password(user.password_hash, password):
        return "right"
    _count_failure(conn, user, limits, now)
    record_failure(conn, address=client, email=email, limits=limits, now=now)
    return "wrong"


def _count_failure(conn: Connection, user: _UserRow, limits: SignInLimits, now: datetime) -> None:
    failures = user.failed_logins + 1
    locked = failures >= limits.max_failures
    conn.execute(
        sa.update(User)
        .where(User.id == user.id)
        .values(
            failed_logins=0 if locked else failures,
            locked_until=now + timedelta(seconds=limits.lockout_s) if locked else None,
        )
    )


def _signed_in(conn: Connection, user: _UserRow, password: str, now: datetime) -> None:
    # A success resets the account's count but not the address's: one known password must not
    # let an address go on guessing others.
    values: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
    if needs_rehash(user.password_hash or ""):
        values["password_hash"] = hash_password(password)
    conn.execute(sa.update(User).where(User.id == user.id).values(**values))
