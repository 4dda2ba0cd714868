"""Answer a question in three phases: prepare, stream, finish.

`prepare` checks the question, reads the conversation so far and finds the passages (or a cached
answer); the `Answer` it returns exists from then on. `stream` yields the answer's text as it is
produced (the chat page draws it live) and, once exhausted, finishes the answer: citations
checked, everything logged, the remaining fields filled in. With `record=False` the same pipeline
runs and nothing is written (answer_id 0): a re-ask.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from rag.answer.cache import CachedAnswer, CacheScope, find_exact, find_similar, remember, saved_usd
from rag.answer.citations import cited_numbers, drop_unknown_citations, removal_note
from rag.answer.conversations import recent_turns, start_conversation
from rag.answer.limits import check_limits
from rag.answer.log import AnswerRecord, log_answer
from rag.answer.not_known import NOT_KNOWN, is_not_known
from rag.console import Console
from rag.errors import ModelError, QuestionRejected
from rag.providers.embedder import timed_embed
from rag.providers.generator import AnswerRequest, Generation, Turn
from rag.retrieval.passage import Passage
from rag.retrieval.search import retrieve
from rag.settings import Settings
from rag.usage.calls import CallRecord

NO_CONVERSATION = uuid.UUID(int=0)  # a re-ask belongs to none


@dataclass
class _Work:
    """What the phases pass on to each other and the caller has no use for."""

    console: Console
    user: str
    record: bool
    history: list[Turn]
    started: float
    calls: list[CallRecord] = field(default_factory=list)
    relevant: list[Passage] = field(default_factory=list)  # the passages the model is shown
    question_vector: list[float] | None = None
    cached: CachedAnswer | None = None


@dataclass
class Answer:
    """One question's answer: made by `prepare`, completed by `stream` (then `finished`)."""

    question: str
    conversation_id: uuid.UUID
    passages: list[Passage] = field(default_factory=list)
    cached_at: datetime | None = None  # a cache hit: when the answer it repeats was given
    timings_ms: dict[str, float | None] = field(default_factory=dict)
    # Filled in when the stream ends:
    answer: str = ""
    answered: bool = False
    incomplete: bool = False
    cited: set[int] = field(default_factory=set)
    removed_citations: set[int] = field(default_factory=set)  # numbers of sources never retrieved
    error: str | None = None
    answer_id: int = 0  # 0 for a re-ask, which is not logged
    finished: bool = False
    _work: _Work = field(repr=False, compare=False, kw_only=True)


def prepare(
    console: Console,
    question: str,
    *,
    user: str,
    conversation_id: uuid.UUID | None = None,
    record: bool = True,
) -> Answer:
    """Check the question, then find its passages or its cached answer.

    Raises QuestionRejected, LimitReached, or ModelError if the question cannot be embedded (that
    failure is logged first).
    """
    question = _checked(question, console.settings)
    if record:  # before any model call: a user over a limit costs nothing
        check_limits(console.engine, console.settings, user)
    started = time.perf_counter()
    if conversation_id is None and record:
        conversation_id = start_conversation(console.engine, user=user, title=question)
    history = recent_turns(console.engine, conversation_id, limit=console.settings.history_turns)
    answer = Answer(
        question,
        conversation_id or NO_CONVERSATION,
        _work=_Work(console, user, record, history, started),
    )
    _find_passages(answer)
    return answer


def stream(answer: Answer) -> Iterator[str]:
    """The answer's text as it is produced; at the end, `answer` is finished and logged."""
    if answer.finished:
        raise ValueError("the answer is finished already")
    work = answer._work
    if work.cached is not None:
        answer.timings_ms["first_token"] = (time.perf_counter() - work.started) * 1000
        yield work.cached.answer
        _finish(answer, work.cached.answer, error=None, generation=None)
        return
    if not work.relevant:
        yield NOT_KNOWN
        _finish(answer, NOT_KNOWN, error=None, generation=None)
        return
    request = AnswerRequest(answer.question, work.history, work.relevant)
    generation: Generation | None = None
    try:
        generation = work.console.generator.generate(request)
        yield from generation
    except ModelError as exc:
        _finish(answer, generation.text if generation else "", error=exc, generation=generation)
        return
    _finish(answer, generation.text, error=None, generation=generation)


def _checked(question: str, settings: Settings) -> str:
    question = " ".join(question.split())
    if not question:
        raise QuestionRejected("Please type a question.")
    if len(question) > settings.max_question_chars:
        raise QuestionRejected(
            f"The question is {len(question):,} characters long; "
            f"the limit is {settings.max_question_chars:,}."
        )
    return question


def _find_passages(answer: Answer) -> None:
    work = answer._work
    console = work.console
    if _use_cache(answer, None):
        return
    t0 = time.perf_counter()
    queries = [answer.question]
    if work.history:
        # A follow-up ("and for refunds?") is searched both alone and with the previous question.
        queries.append(f"{work.history[-1].question} {answer.question}")
    try:
        batch = timed_embed(console.embedder, queries, purpose="query_embedding", calls=work.calls)
    except ModelError as exc:
        _finish(answer, "", error=exc, generation=None)
        raise
    work.question_vector = batch.vectors[0].tolist()
    t1 = time.perf_counter()
    answer.timings_ms["embed"] = (t1 - t0) * 1000
    if _use_cache(answer, batch.vectors[0]):
        return
    answer.passages = retrieve(console.engine, console.kb, queries, batch.vectors, console.settings.retrieval)
    answer.timings_ms["retrieve"] = (time.perf_counter() - t1) * 1000
    threshold = console.settings.min_relevance
    work.relevant = [p for p in answer.passages if p.score >= threshold]


def _finish(answer: Answer, text: str, *, error: ModelError | None, generation: Generation | None) -> None:
    work = answer._work
    console = work.console
    timings = answer.timings_ms
    known = {p.number for p in work.relevant}
    text, removed = drop_unknown_citations(text.strip(), known)
    cited = cited_numbers(text) & known
    note = removal_note(removed)
    if generation is not None:
        work.calls.extend(generation.calls)
        work.calls.append(_chat_call(work, generation, error))
        timings["generate"] = (generation.finished_s or time.perf_counter() - generation.started) * 1000
        first = generation.first_token_s
        timings["first_token"] = first * 1000 if first is not None else None
    elif error is not None and work.relevant:
        work.calls.append(_failed_chat_call(work, error))
    timings["total"] = (time.perf_counter() - work.started) * 1000
    # A cut or failed answer is not an answer, even if part of it arrived.
    answered = bool(text) and error is None and not is_not_known(text) and bool(work.relevant)
    cached = work.cached
    record = AnswerRecord(
        conversation_id=answer.conversation_id if answer.conversation_id != NO_CONVERSATION else None,
        question=answer.question,
        answer=text,
        answered=answered,
        incomplete=error is not None and bool(text),
        passages=answer.passages,
        cited=cited,
        answer_mode=console.generator.mode,
        model=console.generator.model,
        embedding_model=console.embedder.model,
        tokens_in=generation.usage.tokens_in if generation else 0,
        tokens_out=generation.usage.tokens_out if generation else 0,
        timings_ms=timings,
        error_code=error.code if error else None,
        error=str(error) if error else note,
        user=work.user,
        question_embedding=work.question_vector,
        cache_hit=cached is not None,
        saved_usd=saved_usd(cached, work.calls, console.settings.prices) if cached else None,
        cached_from=cached.answer_id if cached else None,
    )
    if work.record:
        answer.answer_id = log_answer(console.engine, console.kb, record, work.calls, console.settings.prices)
    if answer.answer_id and answered and not record.incomplete and cached is None:
        _remember(answer, text, cited)
    answer.answer = text
    answer.answered = answered
    answer.incomplete = record.incomplete
    answer.cited = cited
    answer.removed_citations = removed
    answer.error = str(error) if error else None
    answer.finished = True


# The answer cache (rag/answer/cache.py).


def _cache_scope(answer: Answer) -> CacheScope | None:
    """Recorded questions without history only: a follow-up's meaning depends on earlier turns."""
    work = answer._work
    settings = work.console.settings
    if not (settings.answer_cache and work.record) or work.history:
        return None
    return CacheScope(
        work.console.kb, work.user, work.console.generator.model, settings.answer_cache_ttl_hours
    )


def _use_cache(answer: Answer, vector: npt.NDArray[np.float32] | None) -> bool:
    """Take the answer from the cache: an exact match before embedding, a similar one after."""
    work = answer._work
    scope = _cache_scope(answer)
    similarity = work.console.settings.answer_cache_similarity
    if scope is None:
        return False
    if vector is None:
        work.cached = find_exact(work.console.engine, scope, answer.question)
    elif similarity is not None:
        work.cached = find_similar(work.console.engine, scope, vector, threshold=similarity)
    if work.cached is None:
        return False
    answer.passages = work.cached.passages
    answer.cached_at = work.cached.created_at
    work.relevant = [p for p in answer.passages if p.chunk_id in work.cached.used_chunk_ids]
    return True


def _remember(answer: Answer, text: str, cited: set[int]) -> None:
    scope = _cache_scope(answer)
    if scope is not None:
        remember(
            answer._work.console.engine,
            scope,
            question=answer.question,
            vector=answer._work.question_vector,
            answer_id=answer.answer_id,
            answer=text,
            passages=answer.passages,
            cited=cited,
            used=answer._work.relevant,
        )


def _failed_chat_call(work: _Work, error: ModelError) -> CallRecord:
    generator = work.console.generator
    return CallRecord("chat", generator.mode, generator.model, 0, 0, 0.0, False, error.code)


def _chat_call(work: _Work, generation: Generation, error: ModelError | None) -> CallRecord:
    generator = work.console.generator
    duration = (generation.finished_s or time.perf_counter() - generation.started) * 1000
    return CallRecord(
        purpose="chat",
        provider=generator.mode,
        model=generation.model,
        tokens_in=generation.usage.tokens_in,
        tokens_out=generation.usage.tokens_out,
        duration_ms=duration,
        ok=error is None,
        error_code=error.code if error else None,
        usage_known=generation.usage.reported,
    )
