"""Gaps: unanswered groups someone acted on, kept in PostgreSQL with their state.

Groups of flagged questions are found on the fly (rag/analytics/unanswered.py); once a person (or
the gap loop) acts on one, a gap row holds its state and its answers point to it (answers.gap_id):

    open --assign--> assigned --the loop finds it answered--> answered --confirm--> resolved
                         ^                                        |
                         +-------------------reject---------------+  (open without an assignee)

Resolving a group by hand (`resolve_group`) resolves its gap too; reopening it goes back to assigned
(or open). Every person's action is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.models import Answer, Gap
from rag.auth.audit import record_action
from rag.errors import InvalidInput

GapState = Literal["open", "assigned", "answered", "resolved"]
GAP_STATES: tuple[GapState, ...] = ("open", "assigned", "answered", "resolved")
LOCK = 27492  # pg_advisory_xact_lock(LOCK, smallest answer id): one gap made per group at a time


@dataclass(frozen=True)
class GapView:
    id: int
    title: str
    state: GapState
    assignee: str | None
    due_on: date | None
    first_seen: datetime
    assigned_at: datetime | None
    assigned_by: str | None
    answered_document_id: int | None
    answered_document_title: str | None
    answered_at: datetime | None
    answer_text: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None


def assign_group(
    engine: Engine,
    answer_ids: Sequence[int],
    *,
    assignee: str,
    due_on: date | None,
    user: str,
    title: str | None = None,
) -> int:
    """Give the group of these flagged answers to `assignee`, due on `due_on`. Audited; returns the gap id.

    Makes the group's gap if it has none; `title` (default: its latest wording) is what the gap
    loop re-asks.
    """
    assignee = assignee.strip()
    if not assignee:
        raise InvalidInput("Name the person the group is assigned to.")
    with engine.begin() as conn:
        gap_id = ensure_gap(conn, answer_ids, title=title)
        values: dict[str, object] = {
            "state": "assigned",
            "assignee": assignee,
            "due_on": due_on,
            "assigned_at": sa.func.now(),
            "assigned_by": user,
            **_NOT_ANSWERED,
            **_NOT_RESOLVED,
        }
        if title and title.strip():
            values["title"] = " ".join(title.split())
        gap_title = _update(conn, gap_id, values)
        _reopen_answers(conn, gap_id)
        record_action(
            conn,
            actor=user,
            action="gap_assigned",
            target=gap_title,
            gap_id=gap_id,
            assignee=assignee,
            due_on=due_on.isoformat() if due_on else None,
        )
    return gap_id


def mark_answered(
    engine: Engine,
    answer_ids: Sequence[int],
    *,
    document_id: int | None,
    document_title: str,
    answer_text: str,
    reask_answer_id: int,
) -> int | None:
    """The gap loop's finding: the group's question is answered now, citing `document_title`; a person
    confirms it. Only an open or assigned group moves; returns its gap id, or None if it did not."""
    with engine.begin() as conn:
        gap_id = ensure_gap(conn, answer_ids)
        moved = conn.execute(
            sa.update(Gap)
            .where(Gap.id == gap_id, Gap.state.in_(("open", "assigned")))
            .values(
                state="answered",
                answered_document_id=document_id,
                answered_document_title=document_title,
                answered_at=sa.func.now(),
                answer_text=answer_text,
                reask_answer_id=reask_answer_id,
                updated_at=sa.func.now(),
            )
        ).rowcount
    return gap_id if moved else None


def confirm_answered(engine: Engine, gap_id: int, *, user: str, note: str | None = None) -> int:
    """A person agrees the gap is answered by its document: resolved, with its answers (as
    `resolve_group` does). Audited; returns how many answers were resolved."""
    with engine.begin() as conn:
        gap = _locked(conn, gap_id)
        if gap.state != "answered":
            raise InvalidInput("Only a group answered by a new document can be confirmed.")
        text = (note or "").strip() or f"Answered by {gap.answered_document_title}"
        resolved = resolve_gap(conn, gap_id, user=user, note=text)
        record_action(conn, actor=user, action="gap_confirmed", target=gap.title, gap_id=gap_id, note=text)
    return resolved


def reject_answered(engine: Engine, gap_id: int, *, user: str, note: str | None = None) -> GapState:
    """The document does not answer it after all: back to assigned (open without an assignee). Audited."""
    with engine.begin() as conn:
        gap = _locked(conn, gap_id)
        if gap.state != "answered":
            raise InvalidInput("Only a group answered by a new document can be rejected.")
        state: GapState = "assigned" if gap.assignee else "open"
        _update(conn, gap_id, {"state": state, "note": (note or "").strip() or None, **_NOT_ANSWERED})
        record_action(
            conn,
            actor=user,
            action="gap_answer_rejected",
            target=gap.title,
            gap_id=gap_id,
            document=gap.answered_document_title,
        )
    return state


def gap(engine: Engine, gap_id: int) -> GapView:
    with engine.connect() as conn:
        row = conn.execute(_select().where(Gap.id == gap_id)).first()
    if row is None:
        raise InvalidInput("That group is no longer tracked.")
    return GapView(**row._mapping)


def gaps_by_id(conn: Connection, gap_ids: Sequence[int]) -> dict[int, GapView]:
    if not gap_ids:
        return {}
    rows = conn.execute(_select().where(Gap.id.in_(list(gap_ids))))
    return {r.id: GapView(**r._mapping) for r in rows}


def ensure_gap(conn: Connection, answer_ids: Sequence[int], *, title: str | None = None) -> int:
    """The gap of the group of these answers, made if none of them has one; every answer is linked.

    When the answers point to several gaps (two groups grew into one), the one most of them point
    to wins, the newest on a tie.
    """
    ids = sorted(set(answer_ids))
    if not ids:
        raise ValueError("expected the group's answer ids")
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:lock, :key)"), {"lock": LOCK, "key": ids[0] % 2**31})
    found = conn.execute(
        sa.select(Answer.gap_id)
        .where(Answer.id.in_(ids), Answer.gap_id.is_not(None))
        .group_by(Answer.gap_id)
        .order_by(sa.func.count().desc(), Answer.gap_id.desc())
        .limit(1)
    ).scalar_one_or_none()
    first = conn.execute(
        sa.select(
            Answer.knowledge_base_id,
            Answer.is_demo,
            sa.func.min(Answer.created_at).over().label("first_seen"),
            Answer.question,
        )
        .where(Answer.id.in_(ids))
        .order_by(Answer.created_at.desc(), Answer.id.desc())
        .limit(1)
    ).one()
    if found is None:
        found = conn.execute(
            sa.insert(Gap)
            .values(
                knowledge_base_id=first.knowledge_base_id,
                is_demo=first.is_demo,
                title=" ".join((title or first.question).split()),
                state="open",
                first_seen=first.first_seen,
            )
            .returning(Gap.id)
        ).scalar_one()
    else:
        conn.execute(
            sa.update(Gap)
            .where(Gap.id == found)
            .values(first_seen=sa.func.least(Gap.first_seen, first.first_seen))
        )
    conn.execute(sa.update(Answer).where(Answer.id.in_(ids)).values(gap_id=found))
    gap_id: int = found
    return gap_id


def resolve_gap(conn: Connection, gap_id: int, *, user: str, note: str) -> int:
    """Resolve a gap and its unresolved answers; returns how many answers changed."""
    _update(
        conn, gap_id, {"state": "resolved", "resolved_at": sa.func.now(), "resolved_by": user, "note": note}
    )
    return int(
        conn.execute(
            sa.update(Answer)
            .where(Answer.gap_id == gap_id, Answer.resolved_at.is_(None))
            .values(resolved_at=sa.func.now(), resolved_by=user, resolution_note=note)
        ).rowcount
    )


def reopen_gaps(conn: Connection, answer_ids: Sequence[int]) -> None:
    """The resolved gaps of these answers go back to assigned (open without an assignee)."""
    conn.execute(
        sa.update(Gap)
        .where(
            Gap.id.in_(sa.select(Answer.gap_id).where(Answer.id.in_(list(answer_ids)))),
            Gap.state == "resolved",
        )
        .values(
            state=sa.case((Gap.assignee.is_not(None), "assigned"), else_="open"),
            updated_at=sa.func.now(),
            **_NOT_RESOLVED,
        )
    )


_NOT_ANSWERED: dict[str, object] = {
    "answered_document_id": None,
    "answered_document_title": None,
    "answered_at": None,
    "answer_text": None,
    "reask_answer_id": None,
}
_NOT_RESOLVED: dict[str, object] = {"resolved_at": None, "resolved_by": None}


def _reopen_answers(conn: Connection, gap_id: int) -> None:
    """Assigning a resolved group again: its answers are not resolved any more."""
    conn.execute(
        sa.update(Answer)
        .where(Answer.gap_id == gap_id, Answer.resolved_at.is_not(None))
        .values(resolved_at=None, resolved_by=None)
    )


def _update(conn: Connection, gap_id: int, values: dict[str, object]) -> str:
    title: str = conn.execute(
        sa.update(Gap).where(Gap.id == gap_id).values(updated_at=sa.func.now(), **values).returning(Gap.title)
    ).scalar_one()
    return title


def _locked(conn: Connection, gap_id: int) -> GapView:
    row = conn.execute(_select().where(Gap.id == gap_id).with_for_update()).first()
    if row is None:
        raise InvalidInput("That group is no longer tracked.")
    return GapView(**row._mapping)


def _select() -> sa.Select[*tuple[Any, ...]]:
    return sa.select(
        Gap.id,
        Gap.title,
        Gap.state,
        Gap.assignee,
        Gap.due_on,
        Gap.first_seen,
        Gap.assigned_at,
        Gap.assigned_by,
        Gap.answered_document_id,
        Gap.answered_document_title,
        Gap.answered_at,
        Gap.answer_text,
        Gap.resolved_at,
        Gap.resolved_by,
        Gap.note,
    )
