"""Demo knowledge upkeep: unanswered groups in every state, a curated answer, due review dates.

Written after the demo traffic (the groups are found in it) and labelled like it: gaps and curated
answers carry `is_demo`. Review dates belong to real documents, so the demo backdates only those
never reviewed, keeps the dates it set in the audit log (actor "demo-data"), and removal puts each
back to its default unless someone changed it since.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.models import CuratedAnswer, Gap
from rag.analytics.gaps import ensure_gap, resolve_gap
from rag.analytics.unanswered import UnansweredGroup, unanswered_groups
from rag.answer.cache import normalise_question
from rag.auth.audit import record_action
from rag.console import Console
from rag.demo.templates import KNOWLEDGE_MANAGER, TEMPLATES

ACTOR = "demo-data"
ACTION = "demo_review_dates"
# The prorated-refund template: agents rated its answers down, so a knowledge manager curated one.
CURATED = TEMPLATES[1]
CURATED_ANSWER = (
    "After the first 30 days we refund (annual price / 12) x the whole months left; "
    "the month in progress is not refunded [1]."
)

_RESTORE = """
UPDATE documents d SET review_by = (d.updated_at AT TIME ZONE 'UTC')::date + kb.review_days
FROM knowledge_bases kb
WHERE kb.id = d.knowledge_base_id AND d.id = :id
  AND d.review_by = CAST(:day AS date) AND d.reviewed_at IS NULL
"""
_GIVEN = """
UPDATE answers SET curated_answer_id = :c
WHERE is_demo AND answered AND curated_answer_id IS NULL AND question = ANY(:q) AND created_at >= :at
"""


@dataclass(frozen=True)
class Upkeep:
    gaps: int
    curated: int  # demo answers given the curated answer
    review_dates: int


def add_demo_upkeep(console: Console, *, days: int, now: datetime) -> Upkeep:
    start = (now - timedelta(days=days)).date()
    groups = unanswered_groups(
        console.engine, start=start, end=now.date(), demo=True, threshold=console.settings.min_relevance
    )
    fresh = [g for g in groups if g.gap_id is None][:5]
    with console.engine.begin() as conn:
        for group, state in zip(
            fresh, ("assigned", "answered", "resolved", "overdue", "resolved"), strict=False
        ):
            _gap(conn, console, group, state, now)
        curated = _curated(conn, console, now - timedelta(days=days / 2))
        review_dates = _review_dates(conn, console, now)
    return Upkeep(len(fresh), curated, review_dates)


def remove_demo_upkeep(conn: Connection) -> tuple[int, int, int]:
    """Delete demo gaps and curated answers (after the demo answers), restore review dates."""
    gaps = int(conn.execute(sa.text("DELETE FROM gaps WHERE is_demo")).rowcount)
    curated = int(conn.execute(sa.text("DELETE FROM curated_answers WHERE is_demo")).rowcount)
    restored = 0
    entries = conn.execute(
        sa.text("DELETE FROM audit_log WHERE actor = :a AND action = :x RETURNING detail"),
        {"a": ACTOR, "x": ACTION},
    ).scalars()
    for detail in entries:
        for document_id, review_by in detail["dates"].items():
            restored += conn.execute(
                sa.text(_RESTORE),
                {"id": int(document_id), "day": review_by},
            ).rowcount
    return gaps, curated, restored


def _gap(conn: Connection, console: Console, group: UnansweredGroup, state: str, now: datetime) -> None:
    gap_id = ensure_gap(conn, group.answer_ids)
    assigned_at = min(group.first_seen + timedelta(days=1), now)
    values: dict[str, object] = {
        "state": "assigned",
        "assignee": KNOWLEDGE_MANAGER,
        "assigned_at": assigned_at,
        "assigned_by": KNOWLEDGE_MANAGER,
        "due_on": (now + timedelta(days=5)).date(),
    }
    title = group.closest_documents[0] if group.closest_documents else "Pricing plans"
    if state == "overdue":
        values["due_on"] = (now - timedelta(days=3)).date()
    if state in ("answered", "resolved"):
        document_id = conn.execute(
            sa.text("SELECT id FROM documents WHERE knowledge_base_id = :kb AND title = :t LIMIT 1"),
            {"kb": console.kb.id, "t": title},
        ).scalar_one_or_none()
        values |= {
            "state": "answered",
            "answered_document_id": document_id,
            "answered_document_title": title,
            "answered_at": min(assigned_at + timedelta(days=2), now),
            "answer_text": f"See {title} [1].",
        }
    conn.execute(sa.update(Gap).where(Gap.id == gap_id).values(**values))
    if state == "resolved":
        resolve_gap(conn, gap_id, user=KNOWLEDGE_MANAGER, note=f"Answered by {title}")
        resolved_at = min(assigned_at + timedelta(days=3), now)
        conn.execute(sa.update(Gap).where(Gap.id == gap_id).values(resolved_at=resolved_at))
        conn.execute(
            sa.text("UPDATE answers SET resolved_at = :at WHERE gap_id = :g"),
            {"at": resolved_at, "g": gap_id},
        )


def _curated(conn: Connection, console: Console, written: datetime) -> int:
    document = conn.execute(
        sa.text(
            "SELECT id, title, content_hash, version FROM documents WHERE knowledge_base_id = :kb "
            "ORDER BY title <> :t, id LIMIT 1"
        ),
        {"kb": console.kb.id, "t": CURATED.document},
    ).first()
    docs = [document] if document is not None else []
    curated_id = conn.execute(
        sa.insert(CuratedAnswer)
        .values(
            knowledge_base_id=console.kb.id,
            is_demo=True,
            question=CURATED.variants[0],
            question_key=normalise_question(CURATED.variants[0]),
            answer=CURATED_ANSWER,
            document_ids=[d.id for d in docs],
            document_titles=[d.title for d in docs],
            document_hashes=[d.content_hash for d in docs],
            document_versions=[d.version for d in docs],
            author=KNOWLEDGE_MANAGER,
            created_at=written,
        )
        .returning(CuratedAnswer.id)
    ).scalar_one()
    given = conn.execute(
        sa.text(_GIVEN),
        {"c": curated_id, "q": list(CURATED.variants), "at": written},
    ).rowcount
    conn.execute(sa.update(CuratedAnswer).where(CuratedAnswer.id == curated_id).values(hits=given))
    return int(given)


def _review_dates(conn: Connection, console: Console, now: datetime) -> int:
    """A third of the never-reviewed documents overdue, a third due within weeks."""
    ids = conn.execute(
        sa.text("SELECT id FROM documents WHERE knowledge_base_id = :kb AND reviewed_at IS NULL ORDER BY id"),
        {"kb": console.kb.id},
    ).scalars()
    dates = {}
    for i, document_id in enumerate(ids):
        if i % 3 == 2:
            continue
        offset = -(5 + 7 * i % 40) if i % 3 == 0 else 3 + 5 * i % 25
        dates[str(document_id)] = (now + timedelta(days=offset)).date().isoformat()
    for document_id, day in dates.items():
        conn.execute(
            sa.text("UPDATE documents SET review_by = CAST(:day AS date) WHERE id = :id"),
            {"id": int(document_id), "day": day},
        )
    if dates:
        record_action(
            conn, actor=ACTOR, action=ACTION, target=console.kb.name, dates=json.loads(json.dumps(dates))
        )
    return len(dates)
