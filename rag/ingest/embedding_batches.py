"""Ingestion's embedding calls: a few batches in flight at once within a rate limit, vectors in
chunk order, and a failed batch retried with a longer backoff than chat's, without embedding the
batches that already succeeded again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rag.errors import ModelError
from rag.providers.embedder import Embedder, timed_embed
from rag.providers.rate_limit import RateLimiter, RateLimiters
from rag.settings import Settings
from rag.usage.calls import CallRecord

# Worth another try later; quota, auth, bad requests and unknown models fail the same way again.
RETRYABLE = frozenset({"rate_limited", "server_error", "timeout", "connection"})
MAX_RETRY_WAIT_S = 60.0

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class BatchPolicy:
    batch_size: int
    concurrency: int  # requests in flight at once
    attempts: int  # per batch, each one a full SDK call (with the SDK's own quick retries)
    retry_wait_s: float  # before the 2nd attempt; doubles after each failure

    def wait_before(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.retry_wait_s * 2 ** (attempt - 1), MAX_RETRY_WAIT_S))


def ingestion_policy(settings: Settings, embedder: Embedder) -> BatchPolicy:
    # The local model already keeps every core busy: more threads only contend for them.
    concurrency = 1 if embedder.provider == "local" else settings.embedding_concurrency
    return BatchPolicy(
        settings.embedding_batch_size,
        concurrency,
        settings.embedding_retry_attempts,
        settings.embedding_retry_wait_s,
    )


def shared_limiter(limiters: RateLimiters, settings: Settings, embedder: Embedder) -> RateLimiter:
    """The embedder's limiter among `limiters` (a console's): concurrent uploads share the API's limit."""
    rpm = 0.0 if embedder.provider == "local" else settings.embedding_requests_per_minute
    return limiters.for_model(embedder.provider, embedder.model, rpm)


def embed_in_batches(
    embedder: Embedder,
    texts: list[str],
    *,
    policy: BatchPolicy,
    limiter: RateLimiter,
    calls: list[CallRecord],
    on_progress: Callable[[int], None] | None = None,
    on_batch: Callable[[int, Vectors], None] | None = None,
    finished: dict[int, Vectors] | None = None,
) -> Vectors:
    """Vectors for `texts`, in their order. `on_progress(texts done)` runs on the caller's thread.

    Every request made, failed or not, is appended to `calls`. The first batch that fails for
    good raises its ModelError; batches not started by then are never sent. Batches already in
    `finished` (by batch number) are not sent again; each batch embedded is added to it, and
    handed to `on_batch(number, vectors)` on the caller's thread before `on_progress`.
    """
    if not texts:
        return np.zeros((0, embedder.dimensions), dtype=np.float32)
    size = policy.batch_size
    batches = [texts[start : start + size] for start in range(0, len(texts), size)]
    finished = {} if finished is None else finished
    todo = [i for i in range(len(batches)) if i not in finished]
    done = len(texts) - sum(len(batches[i]) for i in todo)
    stop = threading.Event()
    with ThreadPoolExecutor(
        max_workers=max(1, min(policy.concurrency, len(todo))), thread_name_prefix="embed"
    ) as pool:
        futures = {
            pool.submit(_embed_with_retries, embedder, batches[i], policy, limiter, calls, stop): i
            for i in todo
        }
        try:
            for future in as_completed(futures):
                i = futures[future]
                vectors = future.result()
                if vectors is None:
                    continue  # abandoned: the batch that failed for good raises when it comes
                finished[i] = vectors
                if on_batch is not None:
                    on_batch(i, vectors)
                done += len(batches[i])
                if on_progress is not None:
                    on_progress(done)
        except BaseException:
            stop.set()  # wakes batches waiting to retry and keeps queued ones from starting
            for future in futures:
                future.cancel()
            raise
    return np.vstack([finished[i] for i in range(len(batches))])


def resume_key(embedder: Embedder, policy: BatchPolicy, texts: list[str]) -> str:
    digest = hashlib.sha256(f"{embedder.provider}\0{embedder.model}\0{policy.batch_size}".encode())
    for text in texts:
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()


def _embed_with_retries(
    embedder: Embedder,
    texts: list[str],
    policy: BatchPolicy,
    limiter: RateLimiter,
    calls: list[CallRecord],
    stop: threading.Event,
) -> Vectors | None:
    """The batch's vectors; None if another batch failed for good first (nothing will be stored)."""
    attempt = 1
    while not stop.is_set():
        limiter.acquire()
        try:
            return timed_embed(embedder, texts, purpose="ingest_embedding", calls=calls).vectors
        except ModelError as exc:
            if exc.code not in RETRYABLE or attempt >= policy.attempts:
                stop.set()  # set here, not by the caller, so no queued batch starts meanwhile
                raise
            if stop.wait(policy.wait_before(attempt)):
                return None
        attempt += 1
    return None
