"""The audit log: administrative actions (accounts, roles, deletions), who did them and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.models import AuditEntry


@dataclass(frozen=True)
class AuditRecord:
    created_at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, object]


def record_action(conn: Connection, *, actor: str, action: str, target: str, **detail: object) -> None:
    """Written on the caller's connection, so the entry commits or rolls back with the action."""
    conn.execute(sa.insert(AuditEntry).values(actor=actor, action=action, target=target, detail=detail))


def audit_entries(engine: Engine, *, limit: int = 500, action: str | None = None) -> list[AuditRecord]:
    """The newest entries first."""
    query = sa.select(
        AuditEntry.created_at, AuditEntry.actor, AuditEntry.action, AuditEntry.target, AuditEntry.detail
    ).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if action is not None:
        query = query.where(AuditEntry.action == action)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit)).all()
    return [AuditRecord(r.created_at, r.actor, r.action, r.target, dict(r.detail)) for r in rows]
