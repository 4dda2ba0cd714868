"""Answer a question in three phases: prepare, stream, finish.

`prepare` checks the question, logs it as in progress, reads the conversation so far and finds
the passages (or a cached answer); the `Answer` it returns exists from then on. `stream` yields the
answer's text as it is produced (the chat page draws it live) and finishes the answer when the
stream ends, fails, or is abandoned by its reader (closed part-way: a click, a closed tab): citations
checked, everything logged with the tokens spent, the remaining fields filled in. A re-ask
(`kind="reask"`) runs the same pipeline outside any conversation and cache, logged as a re-ask.

Time is measured where the work happens, from the moment the question is taken: query
embedding, cache lookups, retrieval, generation (from the model request to its last token, inside
the stream), time to the first text the reader gets, and logging (both writes).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from rag.answer.cache import CachedAnswer, CacheScope, find_exact, find_similar, remember, saved_usd
from rag.answer.citations import cited_numbers, drop_unknown_citations, removal_note
from rag.answer.conversations import recent_turns, start_conversation
from rag.answer.curated import CuratedHit, curated_passages, find_curated
from rag.answer.gate import Confidence, GateLevels, judge
from rag.answer.limits import check_limits
from rag.answer.log import AnswerKind, AnswerRecord, AnswerState, NewAnswer, begin_answer, finish_answer
from rag.answer.not_known import NOT_KNOWN, is_not_known
from rag.console import Console
from rag.errors import ModelError, QuestionRejected
from rag.providers.embedder import timed_embed
from rag.providers.generator import AnswerRequest, Generation, Turn, Usage
from rag.retrieval.passage import Passage
from rag.retrieval.search import retrieve
from rag.settings import Settings
from rag.text.tokens import count_tokens
from rag.usage.calls import CallRecord

NO_CONVERSATION = uuid.UUID(int=0)  # a re-ask belongs to none
log = logging.getLogger(__name__)
INTERRUPTED = "The answer was interrupted before it finished (a click, another page, or a closed tab)."


@dataclass
class _Work:
    """What the phases pass on to each other and the caller has no use for."""

    console: Console
    user: str
    kind: AnswerKind
    history: list[Turn]
    started: float  # perf_counter when the question was taken
    calls: list[CallRecord] = field(default_factory=list)
    relevant: list[Passage] = field(default_factory=list)  # the passages the model is shown
    question_vector: list[float] | None = None
    cached: CachedAnswer | None = None
    curated: CuratedHit | None = None


@dataclass
class Answer:
    """One question's answer: made by `prepare`, completed by `stream` (then `finished`)."""

    question: str
    conversation_id: uuid.UUID
    passages: list[Passage] = field(default_factory=list)
    cached_at: datetime | None = None  # a cache hit: when the answer it repeats was given
    # A curated answer (rag/answer/curated.py): which one, who wrote it and when.
    curated_answer_id: int | None = None
    curated_by: str | None = None
    curated_at: datetime | None = None
    # How strong the evidence was (rag/answer/gate.py): "low" is answered but marked; None: nothing
    # relevant was found.
    confidence: Confidence | None = None
    timings_ms: dict[str, float | None] = field(default_factory=dict)
    # Filled in when the stream ends:
    answer: str = ""
    answered: bool = False
    incomplete: bool = False
    cited: set[int] = field(default_factory=set)
    removed_citations: set[int] = field(default_factory=set)  # numbers of sources never retrieved
    error: str | None = None
    tokens_in: int = 0  # of the chat call (the model's own count, or an estimate if it never said)
    tokens_out: int = 0
    state: AnswerState | None = None  # None while in progress
    answer_id: int = 0  # the answer log's row, written when the question is taken
    finished: bool = False
    _work: _Work = field(repr=False, compare=False, kw_only=True)


def prepare(
    console: Console,
    question: str,
    *,
    user: str,
    conversation_id: uuid.UUID | None = None,
    kind: AnswerKind = "question",
    history: list[Turn] | None = None,
    enforce_limits: bool = True,
) -> Answer:
    """Check the question, log it as in progress, then find its passages or its cached answer.

    Raises QuestionRejected, LimitReached, or ModelError if the question cannot be embedded (that
    failure is logged first). `history` gives the earlier turns directly (an API client that keeps
    its own conversation) instead of reading them from the conversation. `enforce_limits=False`
    skips the per-user limits: the gap loop's own re-asks, bounded by GAP_LOOP_MAX_REASKS.
    """
    question = _checked(question, console.settings)
    # Before any model call: a user over a limit costs nothing. Questions in progress count.
    if enforce_limits:
        check_limits(console.engine, console.settings, user)
    started = time.perf_counter()
    if kind == "reask":
        conversation_id = None
    elif conversation_id is None:
        conversation_id = start_conversation(console.engine, user=user, title=question)
    answer = Answer(
        question,
        conversation_id or NO_CONVERSATION,
        _work=_Work(console, user, kind, [], started),
    )
    t0 = time.perf_counter()
    answer.answer_id = begin_answer(
        console.engine,
        console.kb,
        NewAnswer(
            conversation_id=conversation_id,
            question=question,
            user=user,
            kind=kind,
            answer_mode=console.generator.mode,
            model=console.generator.model,
            embedding_model=console.embedder.model,
        ),
    )
    answer.timings_ms["log"] = (time.perf_counter() - t0) * 1000
    answer._work.history = _history(console, conversation_id, history)
    _find_passages(answer)
    return answer


def _history(console: Console, conversation_id: uuid.UUID | None, given: list[Turn] | None) -> list[Turn]:
    """The turns a follow-up is read with: the last HISTORY_TURNS given, or of the conversation."""
    limit = console.settings.history_turns
    if given is None:
        return recent_turns(console.engine, conversation_id, limit=limit)
    return given[-limit:] if limit > 0 else []


def stream(answer: Answer) -> Generator[str]:
    """The answer's text as it is produced; at the end, `answer` is finished and logged.

    Closing the iterator part-way (the reader went away) finishes the answer as interrupted.
    """
    if answer.finished:
        raise ValueError("the answer is finished already")
    work = answer._work
    generation: Generation | None = None
    request: AnswerRequest | None = None
    requested = 0.0
    try:
        given = work.curated or work.cached
        if given is not None:
            yield from _first_text(answer, [given.answer])
            _finish(answer, given.answer, error=None, generation=None)
            return
        if not work.relevant:
            yield from _first_text(answer, [NOT_KNOWN])
            _finish(answer, NOT_KNOWN, error=None, generation=None)
            return
        request = AnswerRequest(answer.question, work.history, work.relevant)
        requested = time.perf_counter()
        try:
            generation = work.console.generator.generate(request)
            yield from _first_text(answer, generation)
        except ModelError as exc:
            _time_generation(answer, requested)
            _finish(answer, generation.text if generation else "", error=exc, generation=generation)
            return
        _time_generation(answer, requested)
        _finish(answer, generation.text, error=None, generation=generation)
    except GeneratorExit:
        if not answer.finished:
            if generation is not None and request is not None:
                _time_generation(answer, requested)
                _estimate_unreported_usage(generation, request)
            text = generation.text if generation else ""
            try:
                _finish(answer, text, error=None, generation=generation, interrupted=True)
            except Exception:  # the reader is gone; the sweep closes the row instead
                log.exception("an interrupted answer could not be logged")
        raise


def abandon(answer: Answer) -> None:
    """Finish, as interrupted, an answer whose stream was never read to its end (nor closed part-way).

    A no-op for a finished answer: call it after the stream, however the reading ended.
    """
    if not answer.finished:
        _finish(answer, "", error=None, generation=None, interrupted=True)


def _first_text(answer: Answer, deltas: Iterable[str]) -> Iterator[str]:
    """Pass the deltas on, noting when the first text reaches the reader."""
    for delta in deltas:
        if delta and "first_token" not in answer.timings_ms:
            answer.timings_ms["first_token"] = (time.perf_counter() - answer._work.started) * 1000
        yield delta


def _time_generation(answer: Answer, requested: float) -> None:
    """From the model request to its last token (or to the stream's end, however it ended)."""
    answer.timings_ms["generate"] = (time.perf_counter() - requested) * 1000


def _estimate_unreported_usage(generation: Generation, request: AnswerRequest) -> None:
    """An abandoned stream never gets the provider's usage report: count what was sent and received."""
    if generation.usage.reported:
        return
    sent = [request.question, *(t.question + t.answer for t in request.history)]
    sent += [p.text for p in request.passages]
    generation.usage = Usage(
        tokens_in=sum(count_tokens(text) for text in sent),
        tokens_out=count_tokens(generation.text),
        reported=False,
        estimated=True,
    )


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
        answer.timings_ms["embed"] = (time.perf_counter() - t0) * 1000
        _finish(answer, "", error=exc, generation=None)
        raise
    work.question_vector = batch.vectors[0].tolist()
    answer.timings_ms["embed"] = (time.perf_counter() - t0) * 1000
    if _use_curated(answer, batch.vectors[0]) or _use_cache(answer, batch.vectors[0]):
        return
    t1 = time.perf_counter()
    answer.passages = retrieve(console.engine, console.kb, queries, batch.vectors, console.settings.retrieval)
    answer.timings_ms["retrieve"] = (time.perf_counter() - t1) * 1000
    settings = console.settings
    levels = GateLevels(settings.min_relevance, settings.weak_relevance, settings.min_keyword_coverage)
    verdict = judge(answer.passages, levels)
    work.relevant, answer.confidence = verdict.relevant, verdict.confidence


def _finish(
    answer: Answer,
    text: str,
    *,
    error: ModelError | None,
    generation: Generation | None,
    interrupted: bool = False,
) -> None:
    work = answer._work
    console = work.console
    known = {p.number for p in work.relevant}
    text, removed = drop_unknown_citations(text.strip(), known)
    # A curated answer rests on every document its author cited, with or without [n] in its text.
    cited = set(known) if work.curated is not None else cited_numbers(text) & known
    if generation is not None:
        work.calls.extend(generation.calls)
        work.calls.append(_chat_call(work, generation, error))
    elif error is not None and work.relevant:
        work.calls.append(_failed_chat_call(work, error))
    # A cut, failed or interrupted answer is not an answer, even if part of it arrived.
    complete = error is None and not interrupted
    answered = complete and bool(text) and not is_not_known(text) and bool(work.relevant)
    state: AnswerState = "interrupted" if interrupted else "failed" if error is not None else "done"
    cached = work.cached
    record = AnswerRecord(
        state=state,
        answer=text,
        answered=answered,
        incomplete=not complete and bool(text),
        passages=answer.passages,
        cited=cited,
        tokens_in=generation.usage.tokens_in if generation else 0,
        tokens_out=generation.usage.tokens_out if generation else 0,
        timings_ms=answer.timings_ms,
        error_code=error.code if error else None,
        error=str(error) if error else INTERRUPTED if interrupted else removal_note(removed),
        confidence=answer.confidence if answered else None,
        user=work.user,
        question_embedding=work.question_vector,
        cache_hit=cached is not None,
        saved_usd=saved_usd(cached, work.calls, console.settings.prices) if cached else None,
        cached_from=cached.answer_id if cached else None,
        curated_answer_id=work.curated.id if work.curated else None,
    )
    final = finish_answer(
        console.engine, answer.answer_id, record, work.calls, console.settings.prices, started=work.started
    )
    answer.timings_ms.update(final)
    if (
        answered and cached is None and work.curated is None and answer.confidence == "high"
    ):  # a weak answer is not given again
        _remember(answer, text, cited)
    answer.answer = text
    answer.answered = answered
    answer.incomplete = record.incomplete
    answer.cited = cited
    answer.removed_citations = removed
    answer.error = str(error) if error else INTERRUPTED if interrupted else None
    answer.tokens_in, answer.tokens_out = record.tokens_in, record.tokens_out
    answer.state = state
    answer.finished = True


# Curated answers (rag/answer/curated.py): before the cache, for the questions the cache serves.


def _use_curated(answer: Answer, vector: npt.NDArray[np.float32]) -> bool:
    work = answer._work
    console = work.console
    threshold = console.settings.curated_similarity
    if threshold is None or work.kind != "question" or work.history:
        return False
    t0 = time.perf_counter()
    hit = find_curated(console.engine, console.kb, answer.question, vector, threshold=threshold)
    passages = curated_passages(console.engine, hit, vector) if hit else []
    answer.timings_ms["cache"] = (answer.timings_ms.get("cache") or 0.0) + (time.perf_counter() - t0) * 1000
    if hit is None or not passages:
        return False
    work.curated = hit
    work.relevant = answer.passages = passages
    answer.confidence = "high"
    answer.curated_answer_id, answer.curated_by, answer.curated_at = hit.id, hit.author, hit.created_at
    return True


# The answer cache (rag/answer/cache.py).


def _cache_scope(answer: Answer) -> CacheScope | None:
    """Recorded questions without history only: a follow-up's meaning depends on earlier turns."""
    work = answer._work
    settings = work.console.settings
    if not settings.answer_cache or work.kind != "question" or work.history:
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
    t0 = time.perf_counter()
    if vector is None:
        work.cached = find_exact(work.console.engine, scope, answer.question)
    elif similarity is not None:
        work.cached = find_similar(work.console.engine, scope, vector, threshold=similarity)
    else:
        return False
    answer.timings_ms["cache"] = (answer.timings_ms.get("cache") or 0.0) + (time.perf_counter() - t0) * 1000
    if work.cached is None:
        return False
    answer.passages = work.cached.passages
    answer.cached_at = work.cached.created_at
    answer.confidence = "high"  # only answers of strong evidence are cached
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
    usage = generation.usage
    return CallRecord(
        purpose="chat",
        provider=generator.mode,
        model=generation.model,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        duration_ms=duration,
        ok=error is None,
        error_code=error.code if error else None,
        usage_known=usage.reported or usage.estimated,
        usage_estimated=usage.estimated,
    )
