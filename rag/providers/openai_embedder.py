"""Embeddings from the OpenAI API (or any server that speaks its embeddings endpoint)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import openai

from rag.errors import ModelError
from rag.providers.embedder import EmbeddingBatch
from rag.providers.retry import DEFAULT_POLICY, RetryPolicy, with_retries

KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_PROBE_TEXT = "dimension probe"


class OpenAIEmbedder:
    provider = "openai"
    max_input_tokens = 8191

    def __init__(self, *, client: openai.OpenAI, model: str, retry: RetryPolicy = DEFAULT_POLICY) -> None:
        self.model = model
        self._client = client
        self._retry = retry
        self._dimensions: int | None = KNOWN_DIMENSIONS.get(model)

    @property
    def dimensions(self) -> int:
        """Known for OpenAI's models; for others, learned from one probe call and cached."""
        if self._dimensions is None:
            self._dimensions = self.embed([_PROBE_TEXT]).vectors.shape[1]
        return self._dimensions

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        """One API call for the whole batch; the caller keeps batches within the API's limits."""
        if not texts:
            return EmbeddingBatch(np.zeros((0, self.dimensions), dtype=np.float32), tokens=0)
        response = with_retries(
            lambda: self._client.embeddings.create(model=self.model, input=texts), self._retry
        )
        if len(response.data) != len(texts):
            raise ModelError(
                f"The embeddings API returned {len(response.data)} vectors for {len(texts)} texts.",
                code="bad_response",
            )
        rows = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        vectors = _normalised(np.asarray(rows, dtype=np.float32))
        self._check_dimensions(vectors.shape[1])
        tokens = getattr(response.usage, "prompt_tokens", None) or 0
        return EmbeddingBatch(vectors=vectors, tokens=int(tokens))

    def _check_dimensions(self, found: int) -> None:
        # A knowledge base's vector column has a fixed size: a silent change would corrupt it.
        if self._dimensions is None:
            self._dimensions = found
        elif found != self._dimensions:
            raise ModelError(
                f"The model {self.model} returned {found}-dimensional vectors, not {self._dimensions}.",
                code="bad_response",
            )


def _normalised(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
