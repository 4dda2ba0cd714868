"""The relevance gate weighs all of retrieval's evidence: cosine, keyword coverage, the legs' ranks."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa

from rag.analytics.unanswered import unanswered_groups
from rag.answer.gate import GateLevels, judge
from rag.answer.not_known import NOT_KNOWN
from rag.answer.pipeline import Answer, prepare, stream
from rag.console import Console
from rag.ingest.pipeline import ingest_file
from rag.providers.embedder import EmbeddingBatch
from rag.providers.extractive import ExtractiveGenerator
from rag.retrieval.passage import Passage
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder

LEVELS = GateLevels(min_relevance=0.4, low_relevance=0.3, min_keyword_coverage=0.6)


def passage(
    number: int, score: float, coverage: float = 0.0, ranks: tuple[int | None, int | None] = (None, None)
) -> Passage:
    return Passage(number, number, 1, "Doc", "", "text", score, coverage, ranks[0], ranks[1])


@pytest.mark.parametrize(
    ("passages", "numbers", "confidence"),
    [
        ([passage(1, 0.45), passage(2, 0.2)], [1], "high"),  # cosine alone
        ([passage(1, 0.1, coverage=0.8), passage(2, 0.2)], [1], "high"),  # its words alone
        ([passage(1, 0.35, coverage=0.45), passage(2, 0.35)], [1], "low"),  # meaning and some words
        ([passage(1, 0.35, ranks=(5, 2)), passage(2, 0.5, ranks=(None, 1))], [2], "high"),
        ([passage(1, 0.35, ranks=(5, 2)), passage(2, 0.1, ranks=(1, 1))], [], None),  # ranks alone
        ([passage(1, 0.35), passage(2, 0.1, coverage=0.45)], [], None),  # one signal each: nothing
    ],
)
def test_the_verdict(passages: list[Passage], numbers: list[int], confidence: str | None) -> None:
    verdict = judge(passages, LEVELS)
    assert [p.number for p in verdict.relevant] == numbers and verdict.confidence == confidence


class BlindEmbedder:
    """Vectors that know nothing of meaning (a hash of the whole text): only words can find a passage."""

    provider = "fake"
    model = "blind-1024"
    dimensions = 1024
    max_input_tokens = 10_000

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        rows = []
        for text in texts:
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).standard_normal(self.dimensions).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return EmbeddingBatch(np.stack(rows), sum(len(t.split()) for t in texts))


ERRORS = b"""# Sync errors

## NW-4471

NW-4471 means the sync token expired: sign out of the desktop client and sign in again.

## Quotas

Uploads beyond the storage quota are paused until space is freed or the plan is upgraded.
"""
OTHER = [
    b"# Shipping\n\nParcels leave the warehouse within two working days.",
    b"# Invoices\n\nInvoices are emailed on the first day of every month.",
    b"# Security\n\nTwo-factor authentication can be turned on in the account settings.",
]


def blind_console(make_console: ConsoleFactory, **env: str) -> Console:
    embedder = BlindEmbedder()
    console = make_console(embedder=embedder, generator=ExtractiveGenerator(embedder=embedder), **env)
    for i, data in enumerate([ERRORS, *OTHER]):
        assert ingest_file(console, f"doc{i}.md", data, user="km").ok
    return console


def ask(console: Console, question: str) -> tuple[str, Answer]:
    result = prepare(console, question, user="agent")
    text = "".join(stream(result))
    with console.engine.connect() as conn:
        confidence = conn.execute(
            sa.text("SELECT confidence FROM answers WHERE id = :id"), {"id": result.answer_id}
        ).scalar_one()
    assert confidence == result.confidence
    return text, result


def test_an_exact_error_code_answers_on_its_words_alone(make_console: ConsoleFactory) -> None:
    console = blind_console(make_console)
    text, result = ask(console, "What does NW-4471 mean?")
    assert "sync token expired" in text and result.confidence == "high" and result.answered
    [used] = [p for p in result.passages if p.number in result.cited]
    assert used.document == "Sync errors" and used.score < 0.2 and used.keyword_coverage >= 0.6


def test_without_the_keyword_evidence_the_same_question_is_not_answered(make_console: ConsoleFactory) -> None:
    console = blind_console(make_console, RETRIEVAL_MODE="dense")
    text, result = ask(console, "What does NW-4471 mean?")
    assert text == NOT_KNOWN and result.confidence is None and not result.answered


def test_weak_evidence_gives_an_answer_marked_low_confidence(make_console: ConsoleFactory) -> None:
    embedder = HashEmbedder(dims=1024)
    console = make_console(
        embedder=embedder,
        generator=ExtractiveGenerator(embedder=embedder),
        MIN_RELEVANCE="0.95",  # nothing is strong on cosine ...
        LOW_RELEVANCE="0.2",
        # ... nor on its words (MIN_KEYWORD_COVERAGE 0.6): the passage holds 45% of their weight
    )
    assert ingest_file(console, "errors.md", ERRORS, user="km").ok
    text, result = ask(console, "How do I fix the sync token expired error?")
    assert result.confidence == "low" and result.answered and "sync token expired" in text
    _, cached = ask(console, "How do I fix the sync token expired error?")
    assert cached.cached_at is None  # a weak answer is never given from the cache


def test_a_low_confidence_answer_is_listed_on_the_unanswered_page(make_console: ConsoleFactory) -> None:
    embedder = HashEmbedder(dims=1024)
    console = make_console(
        embedder=embedder,
        generator=ExtractiveGenerator(embedder=embedder),
        MIN_RELEVANCE="0.95",
        LOW_RELEVANCE="0.2",
    )
    assert ingest_file(console, "errors.md", ERRORS, user="km").ok
    _, result = ask(console, "How do I fix the sync token expired error?")
    assert result.confidence == "low"
    today = datetime.now(UTC).date()
    [group] = unanswered_groups(console.engine, start=today, end=today, demo=False, threshold=0.95)
    assert (
        group.examples == ["How do I fix the sync token expired error?"] and "low confidence" in group.reasons
    )
