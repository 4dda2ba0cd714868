"""Feedback on answers, stored in the real database: one rating per person, validated."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from db.models import Answer
from rag.answer.feedback import MAX_COMMENT_CHARS, REASON_LABELS, REASONS, feedback_for, record_feedback
from rag.console import Console
from tests.conftest import ConsoleFactory


@pytest.fixture
def console(make_console: ConsoleFactory) -> Console:
    return make_console()


def new_answer(console: Console) -> int:
    values = {
        "knowledge_base_id": console.kb.id,
        "question": "How long are refunds?",
        "answer": "Five business days [1].",
        "answered": True,
        "answer_mode": "offline",
        "model": "extractive",
        "embedding_model": console.embedder.model,
        "user_name": "agent",
    }
    with console.engine.begin() as conn:
        answer_id: int = conn.execute(sa.insert(Answer).values(**values).returning(Answer.id)).scalar_one()
    return answer_id


def feedback_rows(console: Console) -> list[tuple[object, ...]]:
    with console.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT answer_id, user_name, rating, reason, comment FROM feedback ORDER BY id")
        ).all()
    return [tuple(r) for r in rows]


def test_a_rating_is_stored_and_read_back_per_person(console: Console) -> None:
    answer_id = new_answer(console)
    record_feedback(console.engine, answer_id=answer_id, user="ana", rating=1)
    assert feedback_for(console.engine, answer_id, "ana") == (1, None, None)
    assert feedback_for(console.engine, answer_id, "ben") is None


def test_changing_ones_mind_replaces_the_earlier_rating(console: Console) -> None:
    answer_id = new_answer(console)
    record_feedback(console.engine, answer_id=answer_id, user="ana", rating=1)
    record_feedback(console.engine, answer_id=answer_id, user="ben", rating=1)
    record_feedback(
        console.engine,
        answer_id=answer_id,
        user="ana",
        rating=-1,
        reason="outdated",
        comment="  Since May.  ",
    )
    assert feedback_rows(console) == [
        (answer_id, "ana", -1, "outdated", "Since May."),
        (answer_id, "ben", 1, None, None),
    ]
    record_feedback(console.engine, answer_id=answer_id, user="ana", rating=1)
    assert feedback_for(console.engine, answer_id, "ana") == (1, None, None)


def test_comments_are_trimmed_and_bounded(console: Console) -> None:
    answer_id = new_answer(console)
    record_feedback(console.engine, answer_id=answer_id, user="ana", rating=-1, comment="x" * 5000)
    rating = feedback_for(console.engine, answer_id, "ana")
    assert rating is not None and rating[2] == "x" * MAX_COMMENT_CHARS
    record_feedback(console.engine, answer_id=answer_id, user="ana", rating=-1, comment="   ")
    assert feedback_for(console.engine, answer_id, "ana") == (-1, None, None)


@pytest.mark.parametrize(
    ("rating", "reason", "message"),
    [
        (0, None, "rating must be 1 or -1"),
        (2, None, "rating must be 1 or -1"),
        (1, "wrong", "only with a thumbs down"),
        (-1, "rude", "unknown reason 'rude'"),
    ],
)
def test_invalid_feedback_is_refused_and_nothing_stored(
    console: Console, rating: int, reason: str | None, message: str
) -> None:
    answer_id = new_answer(console)
    with pytest.raises(ValueError, match=message):
        record_feedback(console.engine, answer_id=answer_id, user="ana", rating=rating, reason=reason)
    assert feedback_rows(console) == []


def test_every_reason_has_a_label_and_is_accepted(console: Console) -> None:
    assert set(REASON_LABELS) == set(REASONS)
    answer_id = new_answer(console)
    for reason in REASONS:
        record_feedback(console.engine, answer_id=answer_id, user="ana", rating=-1, reason=reason)
        assert feedback_for(console.engine, answer_id, "ana") == (-1, reason, None)
