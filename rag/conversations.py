"""Conversations and the recent turns a follow-up question is read with."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Answer, Conversation
from rag.generation import Turn


def start_conversation(engine: Engine, *, user: str, title: str) -> uuid.UUID:
    with engine.begin() as conn:
        new_id: uuid.UUID = conn.execute(
            sa.insert(Conversation).values(user_name=user, title=title[:120]).returning(Conversation.id)
        ).scalar_one()
    return new_id


def recent_turns(engine: Engine, conversation_id: uuid.UUID | None, *, limit: int) -> list[Turn]:
    """The last `limit` answered-or-not exchanges, oldest first; failed ones are left out."""
    if conversation_id is None or limit <= 0:
        return []
    query = (
        sa.select(Answer.question, Answer.answer)
        .where(Answer.conversation_id == conversation_id, Answer.error_code.is_(None))
        .order_by(Answer.created_at.desc(), Answer.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [Turn(r.question, r.answer) for r in reversed(rows)]
