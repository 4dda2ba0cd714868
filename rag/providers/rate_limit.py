"""Requests-per-minute limits shared by threads: request starts are spaced evenly, no bursts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """`acquire()` blocks until the caller may start a request; 0 requests per minute = no limit."""

    def __init__(
        self,
        requests_per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_minute < 0:
            raise ValueError("expected requests_per_minute >= 0")
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_free = float("-inf")
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            # Reserve the next free slot, then wait for it outside the lock so others can queue.
            now = self._clock()
            slot = max(now, self._next_free)
            self._next_free = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


class RateLimiters:
    """One limiter per provider, model and rate: the uploads of one console share the API's limit."""

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, str, float], RateLimiter] = {}
        self._lock = threading.Lock()

    def for_model(self, provider: str, model: str, requests_per_minute: float) -> RateLimiter:
        with self._lock:
            key = (provider, model, requests_per_minute)
            if key not in self._limiters:
                self._limiters[key] = RateLimiter(requests_per_minute)
            return self._limiters[key]
