"""Answer a question: retrieve, generate (streamed), check citations, log everything.

`ask` returns an `AnswerStream`: iterate it for the answer's text as it is produced (the chat
page hands it to `st.write_stream`); once exhausted, `result` holds what was stored. With
`record=False` the same pipeline runs and nothing is written (answer_id 0): a re-ask.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from rag.answer.cache import CachedAnswer, CacheScope, find_exact, find_similar, remember, saved_usd
from rag.answer.citations import cited_numbers, drop_unknown_citations
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
from rag.usage.calls import CallRecord


@dataclass(frozen=True)
class AnswerResult:
    answer_id: int
    conversation_id: uuid.UUID
    answer: str
    answered: bool
    incomplete: bool
    passages: list[Passage]
    cited: set[int]
    error: str | None
    cached_at: datetime | None = None  # a cache hit: when the answer it repeats was given


def ask(
    console: Console,
    question: str,
    *,
    user: str,
    conversation_id: uuid.UUID | None = None,
    record: bool = True,
) -> AnswerStream:
    """Retrieve and start answering; raises QuestionRejected, or ModelError if retrieval fails."""
    question = " ".join(question.split())
    settings = console.settings
    if not question:
        raise QuestionRejected("Please type a question.")
    if len(question) > settings.max_question_chars:
        raise QuestionRejected(
            f"The question is {len(question):,} characters long; "
            f"the limit is {settings.max_question_chars:,}."
        )
    if record:  # before any model call: a user over a limit costs nothing
        check_limits(console.engine, settings, user)
    started = time.perf_counter()
    if conversation_id is None and record:
        conversation_id = start_conversation(console.engine, user=user, title=question)
    history = recent_turns(console.engine, conversation_id, limit=settings.history_turns)
    stream = AnswerStream(
        console, question, history, user=user, conversation_id=conversation_id, record=record
    )
    stream.started = started
    stream.retrieve()
    return stream


class AnswerStream:
    def __init__(
        self,
        console: Console,
        question: str,
        history: list[Turn],
        *,
        user: str,
        conversation_id: uuid.UUID | None,
        record: bool = True,
    ) -> None:
        self.console = console
        self.record = record
        self.question = question
        self.history = history
        self.user = user
        self.conversation_id = conversation_id
        self.calls: list[CallRecord] = []
        self.timings: dict[str, float | None] = {}
        self.passages: list[Passage] = []
        self.relevant: list[Passage] = []
        self.started = time.perf_counter()
        self.result: AnswerResult | None = None
        self.question_vector: list[float] | None = None
        self.cached: CachedAnswer | None = None

    def retrieve(self) -> None:
        if self._use_cache(None):
            return
        t0 = time.perf_counter()
        queries = [self.question]
        if self.history:
            # A follow-up ("and for refunds?") is searched both alone and with the previous question.
            queries.append(f"{self.history[-1].question} {self.question}")
        try:
            batch = timed_embed(self.console.embedder, queries, purpose="query_embedding", calls=self.calls)
        except ModelError as exc:
            self._finish("", error=exc, generation=None)
            raise
        self.question_vector = batch.vectors[0].tolist()
        t1 = time.perf_counter()
        self.timings["embed"] = (t1 - t0) * 1000
        if self._use_cache(batch.vectors[0]):
            return
        self.passages = retrieve(
            self.console.engine, self.console.kb, queries, batch.vectors, self.console.settings.retrieval
        )
        self.timings["retrieve"] = (time.perf_counter() - t1) * 1000
        threshold = self.console.settings.min_relevance
        self.relevant = [p for p in self.passages if p.score >= threshold]

    def __iter__(self) -> Iterator[str]:
        if self.cached is not None:
            self.timings["first_token"] = (time.perf_counter() - self.started) * 1000
            yield self.cached.answer
            self._finish(self.cached.answer, error=None, generation=None)
            return
        if not self.relevant:
            yield NOT_KNOWN
            self._finish(NOT_KNOWN, error=None, generation=None)
            return
        generator = self.console.generator
        request = AnswerRequest(self.question, self.history, self.relevant)
        generation: Generation | None = None
        try:
            generation = generator.generate(request)
            yield from generation
        except ModelError as exc:
            self._finish(generation.text if generation else "", error=exc, generation=generation)
            return
        self._finish(generation.text, error=None, generation=generation)

    def _finish(self, text: str, *, error: ModelError | None, generation: Generation | None) -> None:
        known = {p.number for p in self.relevant}
        text, removed = drop_unknown_citations(text.strip(), known)
        cited = cited_numbers(text) & known
        note = f"removed citations of sources that were not retrieved: {sorted(removed)}" if removed else None
        if generation is not None:
            self.calls.extend(generation.calls)
            self.calls.append(self._chat_call(generation, error))
            self.timings["generate"] = (
                generation.finished_s or time.perf_counter() - generation.started
            ) * 1000
            first = generation.first_token_s
            self.timings["first_token"] = first * 1000 if first is not None else None
        elif error is not None and self.relevant:
            self.calls.append(self._failed_chat_call(error))
        self.timings["total"] = (time.perf_counter() - self.started) * 1000
        # A cut or failed answer is not an answer, even if part of it arrived.
        answered = bool(text) and error is None and not is_not_known(text) and bool(self.relevant)
        saved = saved_usd(self.cached, self.calls, self.console.settings.prices) if self.cached else None
        record = AnswerRecord(
            conversation_id=self.conversation_id,
            question=self.question,
            answer=text,
            answered=answered,
            incomplete=error is not None and bool(text),
            passages=self.passages,
            cited=cited,
            answer_mode=self.console.generator.mode,
            model=self.console.generator.model,
            embedding_model=self.console.embedder.model,
            tokens_in=generation.usage.tokens_in if generation else 0,
            tokens_out=generation.usage.tokens_out if generation else 0,
            timings_ms=self.timings,
            error_code=error.code if error else None,
            error=str(error) if error else note,
            user=self.user,
            question_embedding=self.question_vector,
            cache_hit=self.cached is not None,
            saved_usd=saved,
            cached_from=self.cached.answer_id if self.cached else None,
        )
        answer_id = 0
        if self.record:
            answer_id = log_answer(
                self.console.engine, self.console.kb, record, self.calls, self.console.settings.prices
            )
        if answer_id and answered and not record.incomplete and self.cached is None:
            self._remember(answer_id, text, cited)
        self.result = AnswerResult(
            answer_id,
            self.conversation_id if self.conversation_id is not None else uuid.UUID(int=0),
            text,
            answered,
            record.incomplete,
            self.passages,
            cited,
            str(error) if error else None,
            self.cached.created_at if self.cached else None,
        )

    # The answer cache (rag/answer_cache.py).

    def _cache_scope(self) -> CacheScope | None:
        """Recorded questions without history only: a follow-up's meaning depends on earlier turns."""
        settings = self.console.settings
        if not (settings.answer_cache and self.record) or self.history:
            return None
        return CacheScope(
            self.console.kb, self.user, self.console.generator.model, settings.answer_cache_ttl_hours
        )

    def _use_cache(self, vector: npt.NDArray[np.float32] | None) -> bool:
        """Take the answer from the cache: an exact match before embedding, a similar one after."""
        scope = self._cache_scope()
        similarity = self.console.settings.answer_cache_similarity
        if scope is None:
            return False
        if vector is None:
            self.cached = find_exact(self.console.engine, scope, self.question)
        elif similarity is not None:
            self.cached = find_similar(self.console.engine, scope, vector, threshold=similarity)
        if self.cached is None:
            return False
        self.passages = self.cached.passages
        self.relevant = [p for p in self.passages if p.chunk_id in self.cached.used_chunk_ids]
        return True

    def _remember(self, answer_id: int, text: str, cited: set[int]) -> None:
        scope = self._cache_scope()
        if scope is not None:
            remember(
                self.console.engine,
                scope,
                question=self.question,
                vector=self.question_vector,
                answer_id=answer_id,
                answer=text,
                passages=self.passages,
                cited=cited,
                used=self.relevant,
            )

    def _failed_chat_call(self, error: ModelError) -> CallRecord:
        generator = self.console.generator
        return CallRecord("chat", generator.mode, generator.model, 0, 0, 0.0, False, error.code)

    def _chat_call(self, generation: Generation, error: ModelError | None) -> CallRecord:
        generator = self.console.generator
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
