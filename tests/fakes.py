"""Deterministic stand-ins registered through the same seams real providers use."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import numpy as np

from rag.errors import ModelError
from rag.providers.embedder import EmbeddingBatch
from rag.providers.generator import AnswerRequest, Generation, Usage


class HashEmbedder:
    """Bag-of-words vectors: texts sharing words are similar. Can fail on a chosen call."""

    provider = "fake"
    max_input_tokens = 10_000

    def __init__(self, *, dims: int = 64, fail_on_call: int | None = None) -> None:
        self.dimensions = dims
        self.model = f"hash-{dims}"
        self.fail_on_call = fail_on_call
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        self.calls.append(list(texts))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise ModelError("The embedding service is unavailable (injected).", code="server_error")
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vectors[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimensions] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= np.where(norms == 0, 1, norms)
        return EmbeddingBatch(vectors, sum(len(t.split()) for t in texts))


class ScriptedGenerator:
    """Answers with queued texts; can fail before streaming or cut the stream after n words."""

    mode = "openai"
    model = "scripted-model"

    def __init__(self) -> None:
        self.replies: list[str] = []
        self.fail_at_start: ModelError | None = None
        self.cut_after_words: int | None = None
        self.requests: list[AnswerRequest] = []

    def generate(self, request: AnswerRequest) -> Generation:
        self.requests.append(request)
        if self.fail_at_start is not None:
            raise self.fail_at_start
        text = self.replies.pop(0) if self.replies else "Scripted answer [1]."
        usage = Usage(tokens_in=100, tokens_out=len(text.split()))
        return Generation(self._deltas(text), model=self.model, usage=usage)

    def _deltas(self, text: str) -> Iterator[str]:
        for i, word in enumerate(text.split(" ")):
            if self.cut_after_words is not None and i >= self.cut_after_words:
                raise ModelError("The connection was lost while the answer was streaming.", code="connection")
            yield word if i == 0 else " " + word
