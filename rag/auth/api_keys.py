"""API keys: what other tools present to the HTTP API instead of a person signing in.

A key acts as its account (never above that account's role, and not at all once the account is
deactivated) within one knowledge base. The key is shown once, when it is made; the table keeps its
SHA-256 and its first characters, so a copy of the database gives no one a working key.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from db.models import ApiKey, User
from rag.auth.audit import record_action
from rag.errors import InvalidInput

KEY_PREFIX = "kc_"
SHOWN_CHARS = 10  # "kc_" and 7 random characters: enough to tell keys apart, useless to guess
TOUCH_EVERY = timedelta(minutes=1)  # last use is written at most this often


@dataclass(frozen=True)
class ApiKeyView:
    """A key as the Users page lists it (never the key itself)."""

    id: int
    name: str
    prefix: str
    owner: str  # the account's email
    role: str  # the account's role now: the key can do no more
    knowledge_base: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class KeyCaller:
    """Who a presented key speaks for."""

    key_id: int
    name: str
    owner: str
    role: str
    knowledge_base: str

    @property
    def label(self) -> str:
        """Recorded as the author of the key's questions; its limits are counted under it."""
        return f"key:{self.name}"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    engine: Engine, *, name: str, owner: str, knowledge_base: str, actor: str
) -> tuple[str, ApiKeyView]:
    """A new key for the account `owner`; returns the key (shown once) and how it is listed."""
    name = " ".join(name.split())
    if not name or len(name) > 80:
        raise InvalidInput("Give the key a name of 1 to 80 characters, e.g. the tool that will use it.")
    if not knowledge_base.strip():
        raise InvalidInput("Choose the knowledge base the key may ask.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        with engine.begin() as conn:
            user = conn.execute(
                sa.select(User.id, User.active).where(User.email == owner.strip().lower())
            ).first()
            if user is None or not user.active:
                raise InvalidInput(f"There is no active account {owner.strip()} to own the key.")
            key_id = conn.execute(
                sa.insert(ApiKey)
                .values(
                    name=name,
                    key_hash=_hash(key),
                    prefix=key[:SHOWN_CHARS],
                    user_id=user.id,
                    knowledge_base=knowledge_base.strip(),
                    created_by=actor,
                )
                .returning(ApiKey.id)
            ).scalar_one()
            record_action(
                conn, actor=actor, action="api_key_created", target=name, owner=owner, kb=knowledge_base
            )
    except IntegrityError as exc:
        raise InvalidInput(f"A key named {name!r} exists already: revoke it or choose another name.") from exc
    [view] = [k for k in list_api_keys(engine) if k.id == key_id]
    return key, view


def list_api_keys(engine: Engine) -> list[ApiKeyView]:
    """Live keys first (newest first), then the revoked ones."""
    query = (
        sa.select(
            ApiKey.id,
            ApiKey.name,
            ApiKey.prefix,
            User.email.label("owner"),
            User.role,
            ApiKey.knowledge_base,
            ApiKey.created_by,
            ApiKey.created_at,
            ApiKey.last_used_at,
            ApiKey.revoked_at,
        )
        .join(User, User.id == ApiKey.user_id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    with engine.connect() as conn:
        return [ApiKeyView(**row._mapping) for row in conn.execute(query)]


def revoke_api_key(engine: Engine, key_id: int, *, actor: str) -> None:
    with engine.begin() as conn:
        name = conn.execute(
            sa.update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=sa.func.now())
            .returning(ApiKey.name)
        ).scalar_one_or_none()
        if name is None:
            raise InvalidInput("That key is revoked already, or does not exist.")
        record_action(conn, actor=actor, action="api_key_revoked", target=name)


def key_caller(engine: Engine, key: str) -> KeyCaller | None:
    """Who `key` speaks for; None for an unknown or revoked key, or one whose account is deactivated."""
    if not key.startswith(KEY_PREFIX):
        return None
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(
                ApiKey.id, ApiKey.name, User.email, User.role, ApiKey.knowledge_base, ApiKey.last_used_at
            )
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.key_hash == _hash(key), ApiKey.revoked_at.is_(None), User.active)
        ).first()
        if row is None:
            return None
        conn.execute(
            sa.update(ApiKey)
            .where(
                ApiKey.id == row.id,
                sa.or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < sa.func.now() - TOUCH_EVERY),
            )
            .values(last_used_at=sa.func.now())
        )
    return KeyCaller(row.id, row.name, row.email, row.role, row.knowledge_base)
