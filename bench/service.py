"""The service layer as the chat uses it, on throwaway parts: shared by bench.cache and bench.load.

A fresh embedded PostgreSQL (deleted afterwards) and either the OpenAI path (the official SDK
against the local OpenAI-compatible server of tests/fake_openai.py, streaming with realistic
delays) or the offline path (local embedding model and extractive answerer), with the sample
knowledge base loaded.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.throwaway import throwaway_server
from rag.answer.pipeline import Answer, prepare, stream
from rag.console import Console, open_console
from rag.ingest.batch import ingest_paths, sample_files
from rag.settings import load_settings
from tests.fake_openai import FakeOpenAI

QUESTIONS_FILE = Path(__file__).resolve().parent.parent / "samples" / "questions.json"
FIRST_TOKEN_S = 0.3  # a hosted chat model's usual time to first token
TOKEN_S = 0.02  # and per streamed chunk (about 50 tokens a second)
# About 80 words: with the delays above, about 1.9 s of streaming, like a short real answer.
REPLY = " ".join(
    ["Customers can ask for a full refund within 30 days of the original purchase date [1]."]
    + ["The refund goes back to the original payment method and usually arrives within 5-10 business days."]
    + ["Annual plans cancelled later are refunded pro rata for the unused months, minus any discounts."] * 4
)


@dataclass(frozen=True)
class Timed:
    """One question through `ask`, timed from the call to the first text and to the logged end."""

    first_text_ms: float
    total_ms: float
    result: Answer


@dataclass(frozen=True)
class Service:
    console: Console
    url: str  # the database
    fake: FakeOpenAI | None  # None offline

    def open(self, **env: str) -> Console:
        """Another console on the same database and endpoint, with settings overridden."""
        return open_console(
            load_settings(_env(self.url, self.console.settings.data_dir, self.fake, env), None)
        )


def questions() -> list[str]:
    """The sample questions the documents answer."""
    return [q["question"] for q in json.loads(QUESTIONS_FILE.read_text(encoding="utf-8")) if q["document"]]


def timed_ask(console: Console, question: str, *, user: str) -> Timed:
    started = time.perf_counter()
    first: float | None = None
    answer = prepare(console, question, user=user)
    for _ in stream(answer):
        if first is None:
            first = time.perf_counter()
    ended = time.perf_counter()
    return Timed(((first or ended) - started) * 1000, (ended - started) * 1000, answer)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated; NaN for no values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if q < 100 else max(values)


@contextmanager
def service(*, offline: bool, **env: str) -> Iterator[Service]:
    """A console on a fresh database with the sample library, OpenAI-compatible or offline."""
    fake = None if offline else FakeOpenAI(first_token_delay_s=FIRST_TOKEN_S, token_delay_s=TOKEN_S)
    with throwaway_server() as (url, folder):
        console = None
        try:
            if fake is not None:
                fake.__enter__()
                fake.default_reply = REPLY
            console = open_console(load_settings(_env(url, folder, fake, env), None))
            ingest_paths(console, sample_files(), user="bench")
            yield Service(console, url, fake)
        finally:
            if console is not None:
                console.engine.dispose()
            if fake is not None:
                fake.__exit__(None, None, None)


def _env(url: str, folder: Path, fake: FakeOpenAI | None, extra: Mapping[str, str]) -> dict[str, str]:
    # The per-user limits would throttle the simulated users: what is measured is the service.
    env = {
        "DATABASE_URL": url,
        "DATA_DIR": str(folder),
        "MAX_QUESTIONS_PER_MINUTE": "0",
        "MAX_TOKENS_PER_DAY": "0",
    }
    if fake is not None:
        # The fake's embeddings are hashed bags of words: their cosines run lower than a real model's.
        env |= {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.base_url, "MIN_RELEVANCE": "0.1"}
    return env | dict(extra)
