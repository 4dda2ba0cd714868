"""Ingestion's embedding calls: concurrent batches in order, a rate limit, retries that resume."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterator

import numpy as np
import openai
import pytest

from rag.errors import ConfigError, ModelError
from rag.ingest.embedding_batches import BatchPolicy, embed_in_batches, ingestion_policy
from rag.providers.embedder import EmbeddingBatch
from rag.providers.openai_embedder import OpenAIEmbedder
from rag.providers.rate_limit import RateLimiter
from rag.providers.retry import RetryPolicy
from rag.usage.calls import CallRecord
from tests.conftest import settings_for
from tests.fake_openai import FakeOpenAI
from tests.fakes import HashEmbedder

TEXTS = [f"chunk {i} about refunds, shipping and warranty number {i}" for i in range(37)]
NO_LIMIT = RateLimiter(0)


def policy(*, batch: int = 4, concurrency: int = 4, attempts: int = 5) -> BatchPolicy:
    return BatchPolicy(batch_size=batch, concurrency=concurrency, attempts=attempts, retry_wait_s=0.001)


class LateFirstEmbedder(HashEmbedder):
    """Early batches answer last, so batches finish in reverse order when run concurrently."""

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        position = TEXTS.index(texts[0])
        time.sleep(0.002 * (len(TEXTS) - position))
        return super().embed(texts)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def embedder_for(server: FakeOpenAI, *, timeout_s: float = 5.0) -> OpenAIEmbedder:
    # No SDK or per-call retries: every retry counted here is the ingestion policy's own.
    client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, timeout=timeout_s, max_retries=0)
    return OpenAIEmbedder(client=client, model="text-embedding-3-small", retry=RetryPolicy(max_retries=0))


def inputs(server: FakeOpenAI) -> list[list[str]]:
    return [body["input"] for body in server.requests]


def batches_of(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


# Order, batching, progress


def test_concurrent_batches_keep_chunk_order_and_equal_sequential_embedding() -> None:
    embedder = LateFirstEmbedder()
    calls: list[CallRecord] = []
    done: list[int] = []
    vectors = embed_in_batches(
        embedder, TEXTS, policy=policy(), limiter=NO_LIMIT, calls=calls, on_progress=done.append
    )
    np.testing.assert_array_equal(vectors, HashEmbedder().embed(TEXTS).vectors)
    assert len(embedder.calls) == len(calls) == math.ceil(len(TEXTS) / 4)
    assert sorted(embedder.calls) == sorted(batches_of(TEXTS, 4))
    assert embedder.calls != batches_of(TEXTS, 4)  # they really ran out of order
    assert done == sorted(done) and done[-1] == len(TEXTS) and len(done) == len(calls)


def test_progress_is_reported_on_the_callers_thread() -> None:
    threads: set[str] = set()
    embed_in_batches(
        HashEmbedder(),
        TEXTS,
        policy=policy(),
        limiter=NO_LIMIT,
        calls=[],
        on_progress=lambda _done: threads.add(threading.current_thread().name),
    )
    assert threads == {threading.current_thread().name}  # Streamlit widgets only work there


def test_requests_over_http_are_one_per_batch_with_vectors_in_order(server: FakeOpenAI) -> None:
    server.reverse_embeddings = True
    vectors = embed_in_batches(
        embedder_for(server), TEXTS, policy=policy(batch=5), limiter=NO_LIMIT, calls=[]
    )
    assert len(server.requests) == math.ceil(len(TEXTS) / 5)
    assert sorted(inputs(server)) == sorted(batches_of(TEXTS, 5))
    expected = np.vstack([embedder_for(server).embed([t]).vectors for t in TEXTS])
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)


def test_the_local_model_runs_one_batch_at_a_time() -> None:
    settings = settings_for(EMBEDDING_CONCURRENCY="8")

    class Local(HashEmbedder):
        provider = "local"

    assert ingestion_policy(settings, Local()).concurrency == 1
    assert ingestion_policy(settings, HashEmbedder()).concurrency == 8


# Rate limit


def test_the_limiter_spaces_request_starts_evenly() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(120, clock=lambda: now[0], sleep=sleep)
    starts = []
    for _ in range(300):
        limiter.acquire()
        starts.append(now[0])
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(starts))
    assert max(sum(1 for s in starts if t <= s < t + 60) for t in starts) == 120
    assert starts[-1] - starts[0] == pytest.approx(299 * 0.5)


def test_the_limiter_gives_each_concurrent_caller_its_own_slot() -> None:
    slots: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            slots.append(seconds)  # the clock stands still: waiting time is the slot's offset

    limiter = RateLimiter(600, clock=lambda: 0.0, sleep=sleep)
    workers = [threading.Thread(target=lambda: [limiter.acquire() for _ in range(10)]) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    # 80 requests, one every 0.1 s: the first starts at once, the others each at their own slot.
    assert sorted(round(s, 6) for s in slots) == [round(0.1 * i, 6) for i in range(1, 80)]


def test_every_request_and_retry_goes_through_the_limiter(server: FakeOpenAI) -> None:
    acquired: list[float] = []
    limiter = RateLimiter(6000, clock=lambda: 0.0, sleep=acquired.append)
    server.fail_request(2, 429)
    embed_in_batches(embedder_for(server), TEXTS, policy=policy(), limiter=limiter, calls=[])
    assert len(acquired) + 1 == len(server.requests) == math.ceil(len(TEXTS) / 4) + 1


def test_the_limiter_rejects_a_negative_rate() -> None:
    with pytest.raises(ValueError, match="requests_per_minute >= 0"):
        RateLimiter(-1)


# Retries that resume


@pytest.mark.parametrize(
    ("status", "code"), [(500, None), (503, None), (429, "rate_limit_exceeded")], ids=["500", "503", "429"]
)
def test_a_failed_batch_is_retried_and_the_others_are_not_sent_again(
    server: FakeOpenAI, status: int, code: str | None
) -> None:
    server.fail_request(3, status, times=2, code=code)  # the third batch fails twice
    calls: list[CallRecord] = []
    vectors = embed_in_batches(
        embedder_for(server), TEXTS[:10], policy=policy(batch=2, concurrency=1), limiter=NO_LIMIT, calls=calls
    )
    b = batches_of(TEXTS[:10], 2)
    assert inputs(server) == [b[0], b[1], b[2], b[2], b[2], b[3], b[4]]
    assert [c.ok for c in calls] == [True, True, False, False, True, True, True]
    np.testing.assert_allclose(vectors, embedder_for(server).embed(TEXTS[:10]).vectors, rtol=1e-6)


def test_a_timed_out_batch_is_retried(server: FakeOpenAI) -> None:
    server.delay_next(2.0)
    embedder = embedder_for(server, timeout_s=0.3)
    embed_in_batches(embedder, TEXTS[:6], policy=policy(batch=2, concurrency=1), limiter=NO_LIMIT, calls=[])
    assert inputs(server) == [TEXTS[0:2], TEXTS[0:2], TEXTS[2:4], TEXTS[4:6]]


def test_retries_stop_after_the_policys_attempts(server: FakeOpenAI) -> None:
    server.fail_request(2, 500, times=50)
    with pytest.raises(ModelError) as info:
        embed_in_batches(
            embedder_for(server), TEXTS, policy=policy(concurrency=1, attempts=5), limiter=NO_LIMIT, calls=[]
        )
    assert info.value.code == "server_error"
    assert len(server.requests) == 1 + 5  # the first batch, then five attempts at the second


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [(401, None, "auth"), (429, "insufficient_quota", "quota_exceeded"), (400, None, "bad_request")],
)
def test_auth_quota_and_bad_requests_are_not_retried(
    server: FakeOpenAI, status: int, code: str | None, expected: str
) -> None:
    server.fail_request(2, status, code=code)
    calls: list[CallRecord] = []
    with pytest.raises(ModelError) as info:
        embed_in_batches(
            embedder_for(server), TEXTS, policy=policy(concurrency=1), limiter=NO_LIMIT, calls=calls
        )
    assert info.value.code == expected
    assert len(server.requests) == 2  # and no batch after the failed one was sent
    assert [(c.ok, c.error_code) for c in calls] == [(True, None), (False, expected)]


def test_a_failure_for_good_stops_the_other_batches(server: FakeOpenAI) -> None:
    server.request_delay_s = 0.02
    server.fail_request(1, 401)
    with pytest.raises(ModelError, match="API key was refused"):
        embed_in_batches(
            embedder_for(server), TEXTS, policy=policy(batch=1, concurrency=2), limiter=NO_LIMIT, calls=[]
        )
    assert len(server.requests) < len(TEXTS) // 2


def test_concurrent_batches_with_a_failure_still_embed_each_chunk_once(server: FakeOpenAI) -> None:
    server.fail_request(3, 500)
    vectors = embed_in_batches(embedder_for(server), TEXTS, policy=policy(), limiter=NO_LIMIT, calls=[])
    answered = [body["input"] for body in server.requests]
    assert len(answered) == math.ceil(len(TEXTS) / 4) + 1
    assert sorted(map(tuple, answered)) == sorted(
        [tuple(b) for b in batches_of(TEXTS, 4)] + [tuple(answered[2])]
    )  # the third request's batch went twice, every other batch once
    np.testing.assert_allclose(vectors, embedder_for(server).embed(TEXTS).vectors, rtol=1e-6)


def test_the_wait_doubles_and_is_capped() -> None:
    waits = [BatchPolicy(64, 4, 10, 2.0).wait_before(a) for a in range(1, 8)]
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EMBEDDING_CONCURRENCY", "0"),
        ("EMBEDDING_RETRY_ATTEMPTS", "0"),
        ("EMBEDDING_REQUESTS_PER_MINUTE", "-1"),
    ],
)
def test_settings_refuse_impossible_values(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        settings_for(**{name: value})
