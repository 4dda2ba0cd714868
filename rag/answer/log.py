"""Write an exchange to the answer log: the answer, its sources and every model call it made."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Answer, AnswerSource, ModelCall
from rag.library.knowledge_bases import KnowledgeBaseRef
from rag.retrieval.passage import Passage
from rag.usage.calls import CallRecord, call_rows
from rag.usage.pricing import Price

SNIPPET_CHARS = 600


@dataclass(frozen=True)
class AnswerRecord:
    conversation_id: uuid.UUID | None
    question: str
    answer: str
    answered: bool
    incomplete: bool
    passages: list[Passage]
    cited: set[int]
    answer_mode: str
    model: str
    embedding_model: str
    tokens_in: int
    tokens_out: int
    timings_ms: dict[str, float | None]  # embed, retrieve, generate, first_token, total
    error_code: str | None
    error: str | None
    user: str
    question_embedding: list[float] | None = None
    cache_hit: bool = False
    saved_usd: Decimal | None = None  # a cache hit: the original answer's cost less the hit's own
    cached_from: int | None = None  # a cache hit: the answer it repeats


def log_answer(
    engine: Engine,
    kb: KnowledgeBaseRef,
    record: AnswerRecord,
    calls: list[CallRecord],
    prices: dict[str, Price],
) -> int:
    """Store the answer, its sources and its model calls in one transaction; return the answer id."""
    costs = [c.cost(prices) for c in calls]
    # Unknown prices stay unknown (NULL) rather than silently adding zero.
    total = None if None in costs else sum((c for c in costs if c is not None), Decimal(0))
    t = record.timings_ms
    with engine.begin() as conn:
        answer_id: int = conn.execute(
            sa.insert(Answer)
            .values(
                conversation_id=record.conversation_id,
                knowledge_base_id=kb.id,
                question=record.question,
                answer=record.answer,
                answered=record.answered,
                incomplete=record.incomplete,
                best_score=max((p.score for p in record.passages), default=None),
                answer_mode=record.answer_mode,
                model=record.model,
                embedding_model=record.embedding_model,
                tokens_in=record.tokens_in,
                tokens_out=record.tokens_out,
                cost_usd=total,
                embed_ms=t.get("embed"),
                retrieve_ms=t.get("retrieve"),
                generate_ms=t.get("generate"),
                first_token_ms=t.get("first_token"),
                total_ms=t.get("total"),
                error_code=record.error_code,
                error=record.error,
                user_name=record.user,
                question_embedding=record.question_embedding,
                cache_hit=record.cache_hit,
                saved_usd=record.saved_usd,
                cached_from=record.cached_from,
            )
            .returning(Answer.id)
        ).scalar_one()
        if record.passages:
            conn.execute(sa.insert(AnswerSource), _source_rows(answer_id, record))
        if calls:
            conn.execute(
                sa.insert(ModelCall), call_rows(calls, prices=prices, user=record.user, answer_id=answer_id)
            )
    return answer_id


def _source_rows(answer_id: int, record: AnswerRecord) -> list[dict[str, object]]:
    return [
        {
            "answer_id": answer_id,
            "number": p.number,
            "chunk_id": p.chunk_id,
            "document_id": p.document_id,
            "document_title": p.document,
            "location": p.location,
            "snippet": p.text[:SNIPPET_CHARS],
            "score": p.score,
            "cited": p.number in record.cited,
        }
        for p in record.passages
    ]
