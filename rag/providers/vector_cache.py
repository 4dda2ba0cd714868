"""A bounded map from a text to its vector, kept in the process: the least recently used goes first."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


class VectorCache:
    """Thread-safe: one instance serves every session of a process. Holds no user's data, only
    texts of the knowledge base and their vectors under one embedding model."""

    def __init__(self, *, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError("expected max_entries to be zero or more")
        self.max_entries = max_entries
        self._vectors: OrderedDict[str, Vector] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def get_many(self, texts: Sequence[str]) -> list[Vector | None]:
        """Each text's vector, or None for one not kept; a text found counts as just used."""
        with self._lock:
            found = [self._vectors.get(text) for text in texts]
            for text, vector in zip(texts, found, strict=True):
                if vector is not None:
                    self._vectors.move_to_end(text)
            return found

    def put_many(self, texts: Sequence[str], vectors: Vector) -> None:
        if len(texts) != len(vectors):
            raise ValueError("expected one vector per text")
        if self.max_entries == 0:
            return
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                # A copy: a row of the batch would keep the whole batch's array alive.
                self._vectors[text] = np.array(vector, dtype=np.float32)
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.max_entries:
                self._vectors.popitem(last=False)
