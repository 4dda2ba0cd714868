"""The embedder seam: every provider turns texts into unit vectors and reports its usage."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from rag.errors import ModelError
from rag.usage.calls import CallRecord


@dataclass(frozen=True)
class EmbeddingBatch:
    vectors: npt.NDArray[np.float32]  # shape (len(texts), dimensions), L2-normalised
    tokens: int  # input tokens, as the provider counts them


class Embedder(Protocol):
    provider: str  # "local", "openai", ...
    model: str  # recorded on the knowledge base; vectors of two models never mix
    max_input_tokens: int  # longer inputs are truncated by the model

    @property
    def dimensions(self) -> int: ...

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        """Embed a batch; raises ModelError when the provider fails."""
        ...


def timed_embed(
    embedder: Embedder, texts: list[str], *, purpose: str, calls: list[CallRecord]
) -> EmbeddingBatch:
    """Embed and append what the call cost to `calls`, whether it succeeded or not."""
    started = time.perf_counter()
    try:
        batch = embedder.embed(texts)
    except ModelError as exc:
        calls.append(_record(embedder, purpose, 0, started, exc.code))
        raise
    calls.append(_record(embedder, purpose, batch.tokens, started, None))
    return batch


def _record(embedder: Embedder, purpose: str, tokens: int, started: float, error: str | None) -> CallRecord:
    ms = (time.perf_counter() - started) * 1000
    return CallRecord(purpose, embedder.provider, embedder.model, tokens, 0, ms, error is None, error)
