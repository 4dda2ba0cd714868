"""Thumbs up or down on an answer, one per person: changing one's mind replaces the earlier rating."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

from db.models import Feedback

REASONS = ("wrong", "outdated", "missing", "bad_citation")
REASON_LABELS = {
    "wrong": "Wrong answer",
    "outdated": "Outdated information",
    "missing": "Missing information",
    "bad_citation": "Cites the wrong source",
}
MAX_COMMENT_CHARS = 2000


def record_feedback(
    engine: Engine,
    *,
    answer_id: int,
    user: str,
    rating: int,
    reason: str | None = None,
    comment: str | None = None,
) -> None:
    """Store `user`'s rating of an answer (1 up, -1 down); a reason goes only with a thumbs down."""
    if rating not in (-1, 1):
        raise ValueError("rating must be 1 or -1")
    if reason is not None and rating != -1:
        raise ValueError("a reason goes only with a thumbs down")
    if reason is not None and reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    comment = (comment or "").strip()[:MAX_COMMENT_CHARS] or None
    statement = insert(Feedback).values(
        answer_id=answer_id, user_name=user, rating=rating, reason=reason, comment=comment
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Feedback.answer_id, Feedback.user_name],
        # The rating's time is when it was last given, not when the first one was.
        set_={"rating": rating, "reason": reason, "comment": comment, "created_at": sa.func.now()},
    )
    with engine.begin() as conn:
        conn.execute(statement)


def feedback_for(engine: Engine, answer_id: int, user: str) -> tuple[int, str | None, str | None] | None:
    """`user`'s (rating, reason, comment) on the answer, or None if they have not rated it."""
    query = sa.select(Feedback.rating, Feedback.reason, Feedback.comment).where(
        Feedback.answer_id == answer_id, Feedback.user_name == user
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else (row.rating, row.reason, row.comment)
