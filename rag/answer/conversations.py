"""Conversations and the recent turns a follow-up question is read with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from db.models import Answer, AnswerSource, Conversation, CuratedAnswer
from rag.answer.citations import removed_in_note
from rag.providers.generator import Turn
from rag.retrieval.passage import Passage
from rag.text import zone_named


def start_conversation(engine: Engine, *, user: str, title: str) -> uuid.UUID:
    with engine.begin() as conn:
        new_id: uuid.UUID = conn.execute(
            sa.insert(Conversation).values(user_name=user, title=title[:120]).returning(Conversation.id)
        ).scalar_one()
    return new_id


def recent_turns(engine: Engine, conversation_id: uuid.UUID | None, *, limit: int) -> list[Turn]:
    """The last `limit` finished exchanges, oldest first; failed, interrupted and unfinished ones are
    left out (a half answer would mislead the model)."""
    if conversation_id is None or limit <= 0:
        return []
    query = (
        sa.select(Answer.question, Answer.answer)
        .where(Answer.conversation_id == conversation_id, Answer.state == "done", Answer.error_code.is_(None))
        .order_by(Answer.created_at.desc(), Answer.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [Turn(r.question, r.answer) for r in reversed(rows)]


@dataclass(frozen=True)
class ConversationSummary:
    id: uuid.UUID
    user: str
    title: str
    started_at: datetime
    questions: int


@dataclass(frozen=True)
class PastExchange:
    answer_id: int
    question: str
    answer: str
    answered: bool
    error: str | None  # why the answer failed or was cut; None when it did not
    incomplete: bool
    removed_citations: set[int]  # citations of sources that were not retrieved, removed
    passages: list[Passage]
    cited: set[int]
    state: str = "done"  # in_progress (another tab is still answering), done, failed, interrupted
    confidence: str | None = None  # high, low (answered from weak evidence), None: not answered
    cached_at: datetime | None = None  # from the answer cache: when the original answer was written
    curated_by: str | None = None  # a curated answer: who wrote it, and when
    curated_at: datetime | None = None


def list_conversations(engine: Engine, *, user: str | None, limit: int = 30) -> list[ConversationSummary]:
    """Newest first: one person's (`user`), or everyone's when `user` is None (managers review)."""
    questions = (
        sa.select(sa.func.count())
        .where(Answer.conversation_id == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
    )
    query = sa.select(
        Conversation.id, Conversation.user_name, Conversation.title, Conversation.created_at, questions
    ).order_by(Conversation.created_at.desc())
    if user is not None:
        query = query.where(Conversation.user_name == user)
    with engine.connect() as conn:
        return [ConversationSummary(*row) for row in conn.execute(query.limit(limit))]


def search_conversations(
    engine: Engine, *, user: str | None, words: str, limit: int = 20
) -> list[ConversationSummary]:
    """Newest first, the conversations (one person's, or everyone's when `user` is None) whose title
    or one of whose questions contains `words`, case-insensitively and literally (% and _ too)."""
    pattern = f"%{_like_escaped(words.strip())}%"
    asked = (
        sa.select(Answer.id)
        .where(Answer.conversation_id == Conversation.id, Answer.question.ilike(pattern, escape="\\"))
        .correlate(Conversation)
        .exists()
    )
    questions = (
        sa.select(sa.func.count())
        .where(Answer.conversation_id == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
    )
    query = (
        sa.select(
            Conversation.id, Conversation.user_name, Conversation.title, Conversation.created_at, questions
        )
        .where(sa.or_(Conversation.title.ilike(pattern, escape="\\"), asked))
        .order_by(Conversation.created_at.desc())
        .limit(limit)
    )
    if user is not None:
        query = query.where(Conversation.user_name == user)
    with engine.connect() as conn:
        return [ConversationSummary(*row) for row in conn.execute(query)]


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def dated_title(conversation: ConversationSummary, timezone: str | None) -> str:
    """The title and when the conversation started, in `timezone` (an IANA name; UTC when it is
    missing or unknown): "Refund policy for annual plans · 3 Dec 14:05"."""
    zone = zone_named(timezone)
    started = conversation.started_at
    if started.tzinfo is None:  # stored in UTC
        started = started.replace(tzinfo=UTC)
    local = started.astimezone(zone)
    return f"{conversation.title} · {local.day} {local:%b %H:%M}"


def conversation_owner(engine: Engine, conversation_id: uuid.UUID) -> str | None:
    with engine.connect() as conn:
        owner: str | None = conn.execute(
            sa.select(Conversation.user_name).where(Conversation.id == conversation_id)
        ).scalar_one_or_none()
    return owner


def conversation_exchanges(engine: Engine, conversation_id: uuid.UUID) -> list[PastExchange]:
    """Every exchange of a conversation, oldest first, with the passages as they were retrieved."""
    original = aliased(Answer)
    with engine.connect() as conn:
        answers = conn.execute(
            sa.select(
                Answer.id,
                Answer.question,
                Answer.answer,
                Answer.answered,
                Answer.incomplete,
                Answer.error_code,
                Answer.error,
                Answer.state,
                Answer.confidence,
                sa.func.coalesce(original.finished_at, original.created_at).label("cached_at"),
                CuratedAnswer.author.label("curated_by"),
                CuratedAnswer.created_at.label("curated_at"),
            )
            .outerjoin(original, sa.and_(Answer.cache_hit, original.id == Answer.cached_from))
            .outerjoin(CuratedAnswer, CuratedAnswer.id == Answer.curated_answer_id)
            .where(Answer.conversation_id == conversation_id)
            .order_by(Answer.created_at, Answer.id)
        ).all()
        sources = conn.execute(
            sa.select(
                AnswerSource.answer_id,
                AnswerSource.number,
                AnswerSource.chunk_id,
                AnswerSource.document_id,
                AnswerSource.document_title,
                AnswerSource.location,
                AnswerSource.snippet,
                AnswerSource.score,
                AnswerSource.cited,
            )
            .where(AnswerSource.answer_id.in_([a.id for a in answers]))
            .order_by(AnswerSource.answer_id, AnswerSource.number)
        ).all()
    by_answer: dict[int, list[Any]] = {}
    for source in sources:
        by_answer.setdefault(source.answer_id, []).append(source)
    return [
        PastExchange(
            answer_id=a.id,
            question=a.question,
            answer=a.answer,
            answered=a.answered,
            # A failure or an interruption says why; otherwise `error` holds a note (removed citations).
            error=a.error if a.error_code or a.state == "interrupted" else None,
            incomplete=a.incomplete,
            removed_citations=(
                removed_in_note(a.error) if a.state == "done" and a.error_code is None else set()
            ),
            passages=[_passage(s) for s in by_answer.get(a.id, [])],
            cited={s.number for s in by_answer.get(a.id, []) if s.cited},
            state=a.state,
            confidence=a.confidence,
            cached_at=a.cached_at,
            curated_by=a.curated_by,
            curated_at=a.curated_at,
        )
        for a in answers
    ]


def _passage(s: Any) -> Passage:
    return Passage(
        number=s.number,
        chunk_id=s.chunk_id or 0,
        document_id=s.document_id or 0,
        document=s.document_title,
        location=s.location,
        text=s.snippet,
        score=s.score,
    )
