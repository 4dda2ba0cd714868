"""Which model API failures deserve another try, and how long to wait before it.

The SDK's own retries are switched off (`make_client`): it retries every 429, including an
exhausted quota, which no amount of waiting fixes. Here a rate limit, a server error, a timeout
or a lost connection is retried with backoff; quota, authentication and bad requests are not.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import openai

from rag.providers.openai_client import model_error

T = TypeVar("T")

RETRYABLE = frozenset({"rate_limited", "server_error", "timeout", "connection"})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay_s(self, attempt: int, retry_after_s: float | None = None) -> float:
        """The server's Retry-After if it gave one, else exponential backoff with jitter; capped."""
        if retry_after_s is None:
            retry_after_s = self.base_delay_s * 2**attempt * random.uniform(0.75, 1.0)
        return max(0.0, min(retry_after_s, self.max_delay_s))


DEFAULT_POLICY = RetryPolicy()


def with_retries(call: Callable[[], T], policy: RetryPolicy) -> T:
    """Run `call`; raise the ModelError for its last failure once retrying would not help."""
    attempt = 0
    while True:
        try:
            return call()
        except openai.OpenAIError as exc:
            error = model_error(exc)
            if error.code not in RETRYABLE or attempt >= policy.max_retries:
                raise error from exc
            headers = exc.response.headers if isinstance(exc, openai.APIStatusError) else {}
            time.sleep(policy.delay_s(attempt, retry_after_s(headers)))
            attempt += 1


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (Retry-After in seconds, or OpenAI's retry-after-ms)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
    return None
