"""Vectors of the batches embedded before a document's embedding failed part-way, kept so that
a retry of the same texts resumes at the batch that failed instead of paying for them again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import ClassVar

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class ResumeCache:
    """Unfinished documents by resume key, oldest dropped first; safe to share between threads."""

    # Bounded so that they hold at most about 120 MB at 1,536 dimensions.
    MAX_UNFINISHED: ClassVar[int] = 8
    MAX_UNFINISHED_VECTORS: ClassVar[int] = 20_000

    def __init__(self) -> None:
        self._unfinished: OrderedDict[str, dict[int, Vectors]] = OrderedDict()
        self._lock = threading.Lock()

    def take_unfinished(self, key: str) -> dict[int, Vectors]:
        """The batches (by number) embedded before the same texts' last failure, removed from here."""
        with self._lock:
            return self._unfinished.pop(key, {})

    def keep_unfinished(self, key: str, finished: dict[int, Vectors]) -> None:
        if not finished:
            return
        with self._lock:
            self._unfinished[key] = finished
            while (
                len(self._unfinished) > self.MAX_UNFINISHED
                or self._vector_count() > self.MAX_UNFINISHED_VECTORS
            ):
                self._unfinished.popitem(last=False)

    def _vector_count(self) -> int:
        return sum(len(v) for batches in self._unfinished.values() for v in batches.values())
