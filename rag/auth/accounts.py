"""Accounts as callers see them: the `Account` record and the reads that return it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import User
from rag.errors import InvalidInput

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


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
    must_change_password: bool  # a temporary password: nothing else until it is changed

    @property
    def label(self) -> str:
        """How the person is recorded as the author of answers, uploads and actions."""
        return self.email


# Selected in this order wherever an `Account` is built from a row.
ACCOUNT_COLUMNS = (
    User.id,
    User.email,
    User.name,
    User.role,
    User.active,
    User.password_hash.is_not(None).label("has_password"),
    User.created_by,
    User.created_at,
    User.last_login_at,
    User.must_change_password,
)


def account_from(row: Sequence[Any]) -> Account:
    """An `Account` from a row whose first columns are ACCOUNT_COLUMNS."""
    return Account(*row[: len(ACCOUNT_COLUMNS)])


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
        row = conn.execute(sa.select(*ACCOUNT_COLUMNS).where(User.email == email.strip().lower())).first()
    return account_from(row) if row else None


def list_accounts(engine: Engine) -> list[Account]:
    with engine.connect() as conn:
        return [account_from(r) for r in conn.execute(sa.select(*ACCOUNT_COLUMNS).order_by(User.email))]
