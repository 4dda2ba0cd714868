"""The answer log: a row written when a question is taken, finished when its stream ends.

`begin_answer` writes the row in progress, so limits count it and a crash leaves a trace;
`finish_answer` completes it (done, failed or interrupted) with its sources and every model call
it made, in one transaction; `close_abandoned_answers` closes the rows a dead process left open.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Answer, AnswerSource, ModelCall
from rag.library.knowledge_bases import KnowledgeBaseRef
from rag.retrieval.passage import Passage
from rag.usage.calls import CallRecord, call_rows
from rag.usage.pricing import Price

SNIPPET_CHARS = 600
AnswerKind = Literal["question", "reask"]
AnswerState = Literal["done", "failed", "interrupted"]
ABANDONED = "The answer was cut off: the app process stopped before it finished."


@dataclass(frozen=True)
class NewAnswer:
    """What is known of an answer when its question is taken."""

    conversation_id: uuid.UUID | None
    question: str
    user: str
    kind: AnswerKind
    answer_mode: str
    model: str
    embedding_model: str


@dataclass(frozen=True)
class AnswerRecord:
    state: AnswerState
    answer: str
    answered: bool
    incomplete: bool
    passages: list[Passage]
    cited: set[int]
    tokens_in: int
    tokens_out: int
    timings_ms: dict[str, float | None]  # embed, cache, retrieve, generate, first_token, log
    error_code: str | None
    error: str | None
    user: str
    confidence: str | None = None  # an answer's evidence: high, or low (answered, but marked)
    question_embedding: list[float] | None = None
    cache_hit: bool = False
    saved_usd: Decimal | None = None  # a cache hit: the original answer's cost less the hit's own
    cached_from: int | None = None  # a cache hit: the answer it repeats
    curated_answer_id: int | None = None  # a curated answer given instead of a generated one


def begin_answer(engine: Engine, kb: KnowledgeBaseRef, new: NewAnswer) -> int:
    """The answer's row, in progress; returns its id."""
    with engine.begin() as conn:
        answer_id: int = conn.execute(
            sa.insert(Answer)
            .values(
                conversation_id=new.conversation_id,
                knowledge_base_id=kb.id,
                question=new.question,
                answer="",
                answered=False,
                answer_mode=new.answer_mode,
                model=new.model,
                embedding_model=new.embedding_model,
                user_name=new.user,
                kind=new.kind,
                state="in_progress",
            )
            .returning(Answer.id)
        ).scalar_one()
    return answer_id


def finish_answer(
    engine: Engine,
    answer_id: int,
    record: AnswerRecord,
    calls: list[CallRecord],
    prices: dict[str, Price],
    *,
    started: float,
) -> dict[str, float]:
    """Complete the row with its sources and model calls, in one transaction.

    `started` is when the question was taken (perf_counter): the total runs to this write, and the
    write's own time is added to the logging stage. Returns the final log and total times (ms).
    """
    costs = [c.cost(prices) for c in calls]
    # Unknown prices stay unknown (NULL) rather than silently adding zero.
    total = None if None in costs else sum((c for c in costs if c is not None), Decimal(0))
    t = record.timings_ms
    began = time.perf_counter()
    with engine.begin() as conn:
        if record.passages:
            conn.execute(sa.insert(AnswerSource), _source_rows(answer_id, record))
        if calls:
            conn.execute(
                sa.insert(ModelCall), call_rows(calls, prices=prices, user=record.user, answer_id=answer_id)
            )
        now = time.perf_counter()
        final = {"log": (t.get("log") or 0.0) + (now - began) * 1000, "total": (now - started) * 1000}
        conn.execute(
            sa.update(Answer)
            .where(Answer.id == answer_id)
            .values(
                state=record.state,
                finished_at=sa.func.now(),
                answer=record.answer,
                answered=record.answered,
                incomplete=record.incomplete,
                best_score=max((p.score for p in record.passages), default=None),
                tokens_in=record.tokens_in,
                tokens_out=record.tokens_out,
                cost_usd=total,
                embed_ms=t.get("embed"),
                cache_ms=t.get("cache"),
                retrieve_ms=t.get("retrieve"),
                generate_ms=t.get("generate"),
                first_token_ms=t.get("first_token"),
                log_ms=final["log"],
                total_ms=final["total"],
                error_code=record.error_code,
                error=record.error,
                confidence=record.confidence,
                question_embedding=record.question_embedding,
                cache_hit=record.cache_hit,
                saved_usd=record.saved_usd,
                cached_from=record.cached_from,
                curated_answer_id=record.curated_answer_id,
            )
        )
    return final


def close_abandoned_answers(engine: Engine, *, older_than_s: float) -> int:
    """Close the answers still in progress after `older_than_s` (their process died); returns how many.

    Their model calls were never written, so their tokens stay unknown; they count as interrupted.
    """
    with engine.begin() as conn:
        closed = conn.execute(
            sa.update(Answer)
            .where(
                Answer.state == "in_progress",
                Answer.created_at < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, older_than_s),
            )
            .values(state="interrupted", finished_at=sa.func.now(), error=ABANDONED)
        )
    return closed.rowcount


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
