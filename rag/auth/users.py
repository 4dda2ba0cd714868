"""Accounts: adding people, their roles, deactivation, and signing in with failed-login throttling."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from db.models import User
from rag.auth.audit import record_action
from rag.auth.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from rag.auth.roles import MANAGER, check_role
from rag.errors import InvalidInput, SignInRefused

WRONG_CREDENTIALS = "Wrong email or password."
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# Any two concurrent first-run submissions serialise on this lock; only one creates the manager.
_FIRST_RUN_LOCK = 61_006


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str
    role: str
    active: bool
    has_password: bool
    created_by: str
    created_at: datetime
    last_login_at: datetime | None

    @property
    def label(self) -> str:
        """How the person is recorded as the author of answers, uploads and actions."""
        return self.email


_COLUMNS = (
    User.id,
    User.email,
    User.name,
    User.role,
    User.active,
    User.password_hash.is_not(None).label("has_password"),
    User.created_by,
    User.created_at,
    User.last_login_at,
)


def normalize_email(email: str) -> str:
    cleaned = email.strip().lower()
    if not _EMAIL.match(cleaned):
        raise InvalidInput(f"{email.strip()!r} is not an email address.")
    return cleaned


def user_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(User)).scalar_one())


def get_account(engine: Engine, email: str) -> Account | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_COLUMNS).where(User.email == email.strip().lower())).first()
    return Account(*row) if row else None


def list_accounts(engine: Engine) -> list[Account]:
    with engine.connect() as conn:
        return [Account(*r) for r in conn.execute(sa.select(*_COLUMNS).order_by(User.email))]


def add_user(
    engine: Engine, email: str, role: str, *, actor: str, password: str | None = None, name: str = ""
) -> Account:
    """A new account; without a password it can only sign in through OIDC (or after a reset)."""
    with engine.begin() as conn:
        return _insert(conn, email, role, actor=actor, password=password, name=name)


def create_first_manager(engine: Engine, email: str, password: str, *, name: str = "") -> Account:
    """The first-run step: a manager account, only while there is no account at all."""
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_FIRST_RUN_LOCK)))
        if conn.execute(sa.select(sa.func.count()).select_from(User)).scalar_one():
            raise InvalidInput("An account exists already: sign in, or ask a manager to add you.")
        return _insert(conn, email, MANAGER, actor="first run", password=password, name=name)


def _insert(
    conn: Connection, email: str, role: str, *, actor: str, password: str | None, name: str
) -> Account:
    address = normalize_email(email)
    check_role(role)
    hashed = None if password is None else hash_password(password)
    inserted = conn.execute(
        pg_insert(User)
        .values(email=address, name=name.strip(), role=role, password_hash=hashed, created_by=actor)
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(*_COLUMNS)
    ).first()
    if inserted is None:
        raise InvalidInput(f"{address} already has an account.")
    record_action(conn, actor=actor, action="user_added", target=address, role=role)
    return Account(*inserted)


def change_role(engine: Engine, email: str, role: str, *, actor: str) -> None:
    check_role(role)
    with engine.begin() as conn:
        old = _locked_user(conn, email)
        if old.role == role:
            return
        if old.role == MANAGER:
            _keep_a_manager(conn, old.email, "take the manager role from")
        conn.execute(sa.update(User).where(User.id == old.id).values(role=role))
        record_action(conn, actor=actor, action="role_changed", target=old.email, old=old.role, new=role)


def set_active(engine: Engine, email: str, active: bool, *, actor: str) -> None:
    """Deactivated accounts cannot sign in, and signed-in sessions lose access on their next run."""
    with engine.begin() as conn:
        user = _locked_user(conn, email)
        if user.active == active:
            return
        if not active and user.role == MANAGER:
            _keep_a_manager(conn, user.email, "deactivate")
        conn.execute(sa.update(User).where(User.id == user.id).values(active=active))
        action = "user_reactivated" if active else "user_deactivated"
        record_action(conn, actor=actor, action=action, target=user.email)


def set_password(engine: Engine, email: str, password: str, *, actor: str) -> None:
    """A new password (a reset by a manager, or the CLI); it also lifts a sign-in lock."""
    hashed = hash_password(password)
    with engine.begin() as conn:
        user = _locked_user(conn, email)
        conn.execute(
            sa.update(User)
            .where(User.id == user.id)
            .values(password_hash=hashed, failed_logins=0, locked_until=None)
        )
        record_action(conn, actor=actor, action="password_set", target=user.email)


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


def _locked_user(conn: Connection, email: str) -> _UserRow:
    user = conn.execute(sa.select(*_ROW).where(User.email == email.strip().lower()).with_for_update()).first()
    if user is None:
        raise InvalidInput(f"There is no account for {email.strip()}.")
    return user


def _keep_a_manager(conn: Connection, email: str, what: str) -> None:
    others = conn.execute(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.role == MANAGER, User.active, User.email != email)
    ).scalar_one()
    if not others:
        raise InvalidInput(f"Cannot {what} the last active manager: make someone else a manager first.")


def sign_in(engine: Engine, email: str, password: str, *, max_failures: int, lockout_s: float) -> Account:
    """The account if the password is right; otherwise SignInRefused, and failures are counted.

    After `max_failures` wrong passwords in a row the account refuses every attempt, right or
    wrong, for `lockout_s` seconds. Deactivation is only revealed to someone with the password.
    """
    address = email.strip().lower()
    refusal: str | None = None
    with engine.begin() as conn:
        user = conn.execute(sa.select(*_ROW).where(User.email == address).with_for_update()).first()
        now = conn.execute(sa.select(sa.func.now())).scalar_one()
        if user is None or user.password_hash is None:
            verify_password(DUMMY_HASH, password)
            raise SignInRefused(WRONG_CREDENTIALS)
        if user.locked_until is not None and user.locked_until > now:
            minutes = math.ceil((user.locked_until - now).total_seconds() / 60)
            raise SignInRefused(
                f"Too many failed sign-ins: try again in {minutes} minute{'s' * (minutes != 1)}."
            )
        if not verify_password(user.password_hash, password):
            failures = user.failed_logins + 1
            locked = failures >= max_failures
            conn.execute(
                sa.update(User)
                .where(User.id == user.id)
                .values(
                    failed_logins=0 if locked else failures,
                    locked_until=now + timedelta(seconds=lockout_s) if locked else None,
                )
            )
            refusal = WRONG_CREDENTIALS
        elif not user.active:
            refusal = "This account is deactivated: ask a manager."
        else:
            values: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
            if needs_rehash(user.password_hash):
                values["password_hash"] = hash_password(password)
            conn.execute(sa.update(User).where(User.id == user.id).values(**values))
    if refusal is not None:  # raised after the commit, so the failure stays counted
        raise SignInRefused(refusal)
    account = get_account(engine, address)
    assert account is not None
    return account
