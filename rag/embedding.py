"""The embedder seam: every provider turns texts into unit vectors and reports its usage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


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
