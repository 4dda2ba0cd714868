"""The generator seam: what an answerer receives and how it hands back a streamed answer."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.usage.calls import CallRecord


class Source(Protocol):
    """A passage as an answerer reads it (retrieval's Passage is one); `number` is its label [n]."""

    @property
    def number(self) -> int: ...
    @property
    def document(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def score(self) -> float: ...


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


@dataclass(frozen=True)
class AnswerRequest:
    question: str
    history: list[Turn]
    passages: Sequence[Source]


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    reported: bool = True  # False while a provider's token counts are still unknown
    estimated: bool = False  # counted locally: the stream was abandoned before the provider reported


class Generation:
    """A streamed answer: iterate for text deltas; usage and timings are final once exhausted."""

    def __init__(
        self, deltas: Iterable[str], *, model: str, usage: Usage | None = None, started: float | None = None
    ) -> None:
        self._deltas = deltas
        self.model = model
        self.usage = usage if usage is not None else Usage()
        # When the request was sent (perf_counter), so time to first token includes the round trip.
        self.started = time.perf_counter() if started is None else started
        self.first_token_s: float | None = None
        self.finished_s: float | None = None
        self.text = ""
        # API calls made to produce this answer besides the chat call (e.g. sentence embeddings)
        self.calls: list[CallRecord] = []

    def __iter__(self) -> Iterator[str]:
        try:
            for delta in self._deltas:
                if not delta:
                    continue
                if self.first_token_s is None:
                    self.first_token_s = time.perf_counter() - self.started
                self.text += delta
                yield delta
        finally:
            # Abandoned part-way (the reader stopped): close the source too, so a streaming HTTP
            # response is released at once and stops costing tokens.
            close = getattr(self._deltas, "close", None)
            if close is not None:
                close()
        self.finished_s = time.perf_counter() - self.started


class Generator(Protocol):
    mode: str  # "offline" or "openai"
    model: str

    def generate(self, request: AnswerRequest) -> Generation:
        """Start an answer; raises ModelError if the model cannot be reached."""
        ...
