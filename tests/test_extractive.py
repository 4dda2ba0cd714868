"""The offline answerer's sentence vectors: cached in a bounded map, the same as embedding afresh."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from rag.providers.extractive import ExtractiveGenerator
from rag.providers.generator import AnswerRequest, Generation
from rag.providers.local_embedder import LocalEmbedder
from rag.providers.vector_cache import VectorCache
from tests.fakes import HashEmbedder

RETURNS = "Opened headphones can be returned within 14 days. Refunds reach the card in five business days."
SHIPPING = "Parcels to Germany arrive in three business days. Parcels to France take five days by courier."


@dataclass(frozen=True)
class Passage:
    number: int
    text: str
    score: float
    document: str = "doc"
    location: str = ""


def request(question: str) -> AnswerRequest:
    return AnswerRequest(question, [], [Passage(1, RETURNS, 0.6), Passage(2, SHIPPING, 0.5)])


def read(generation: Generation) -> str:
    return "".join(generation)


def test_the_cache_keeps_at_most_its_size_and_forgets_the_least_recently_used() -> None:
    cache = VectorCache(max_entries=2)
    cache.put_many(["a", "b"], np.eye(2, dtype=np.float32))
    assert cache.get_many(["a"])[0] is not None  # "a" is now the most recently used
    cache.put_many(["c"], np.ones((1, 2), dtype=np.float32))
    found = cache.get_many(["a", "b", "c"])
    assert len(cache) == 2 and found[1] is None
    assert np.array_equal(found[0], [1, 0]) and np.array_equal(found[2], [1, 1])  # type: ignore[arg-type]


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = VectorCache(max_entries=0)
    cache.put_many(["a"], np.ones((1, 2), dtype=np.float32))
    assert len(cache) == 0 and cache.get_many(["a"]) == [None]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: VectorCache(max_entries=-1), "max_entries to be zero or more"),
        (
            lambda: VectorCache(max_entries=1).put_many(["a", "b"], np.ones((1, 2), np.float32)),
            "one vector per text",
        ),
        (lambda: LocalEmbedder(threads=0), "threads to be positive"),
    ],
)
def test_bad_sizes_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_sentences_seen_before_are_not_embedded_again() -> None:
    embedder = HashEmbedder(dims=256)
    generator = ExtractiveGenerator(embedder=embedder)
    read(generator.generate(request("How long can opened headphones be returned?")))
    first_call = embedder.calls[-1]
    question = "When do parcels to Germany arrive?"
    generation = generator.generate(request(question))
    read(generation)
    assert len(first_call) == 5 and embedder.calls[-1] == [question]
    # Only what was embedded is counted as spent (the fake counts words).
    assert generation.usage.tokens_in == 6


def test_cached_answers_are_the_uncached_ones() -> None:
    cached = ExtractiveGenerator(embedder=HashEmbedder(dims=256))
    uncached = ExtractiveGenerator(embedder=HashEmbedder(dims=256), cache_entries=0)
    for question in ["How long can opened headphones be returned?", "Germany parcels?", "refund card days"]:
        assert read(cached.generate(request(question))) == read(uncached.generate(request(question)))
    assert len(cached.sentence_vectors) == 4 and len(uncached.sentence_vectors) == 0


def test_cached_vectors_of_the_local_model_are_those_it_gives_alone(local_embedder: LocalEmbedder) -> None:
    generator = ExtractiveGenerator(embedder=local_embedder)
    first = read(generator.generate(request("How long can opened headphones be returned?")))
    sentences = [s for p in (RETURNS, SHIPPING) for s in p.replace(". ", ".\n").splitlines()]
    kept = generator.sentence_vectors.get_many(sentences)
    # Embedded with the question in one padded batch, compared with each on its own.
    alone = np.stack([local_embedder.embed([s]).vectors[0] for s in sentences])
    assert np.allclose(np.stack(kept), alone, atol=1e-5)  # type: ignore[arg-type]
    assert read(generator.generate(request("How long can opened headphones be returned?"))) == first
    assert "within 14 days. [1]" in first
