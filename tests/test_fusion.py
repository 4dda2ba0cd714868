"""Hybrid fusion in SQL: each rule's fused score is its formula over the legs' ranks or scores."""

from __future__ import annotations

import pytest

from rag.ingest.pipeline import ingest_file
from rag.retrieval.params import RetrievalParams
from rag.retrieval.search import query_values, retrieval_query, retrieve
from rag.settings import load_settings
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder

NOTES = [
    "parcels ship from the north warehouse every morning",
    "refunds for annual plans are prorated after thirty days",
    "the team plan costs twelve dollars per seat each month",
    "parcels that are damaged are replaced at no cost",
    "the sync client retries a failed upload three times",
    "shipping to islands takes two extra days for parcels",
    "plan upgrades take effect at once and are billed per month",
]
QUESTION = "how long do parcels take to ship each month"


@pytest.fixture
def notes(make_console: ConsoleFactory):  # type: ignore[no-untyped-def]
    console = make_console(embedder=HashEmbedder(dims=16))
    for i, text in enumerate(NOTES):
        assert ingest_file(console, f"n{i}.md", f"# Note {i}\n\n{text}".encode(), user="km").ok
    return console


def fused_rows(console, params: RetrievalParams):  # type: ignore[no-untyped-def]
    vector = console.embedder.embed([QUESTION]).vectors[0]
    with console.engine.connect() as conn:
        return conn.execute(
            retrieval_query(console.kb, "hybrid"), query_values(console.kb, QUESTION, vector, params)
        ).all()


@pytest.mark.parametrize("rrf_k", [10, 60])
def test_rrf_sums_weight_over_k_plus_rank(notes, rrf_k: int) -> None:  # type: ignore[no-untyped-def]
    params = RetrievalParams(mode="hybrid", k=10, depth=10, rrf_k=rrf_k, dense_weight=1.0, keyword_weight=0.5)
    rows = fused_rows(notes, params)
    assert any(r.dense_rank and r.keyword_rank for r in rows)  # both legs took part
    for r in rows:
        expected = (1.0 / (rrf_k + r.dense_rank) if r.dense_rank else 0.0) + (
            0.5 / (rrf_k + r.keyword_rank) if r.keyword_rank else 0.0
        )
        assert r.fused == pytest.approx(expected)
    assert [r.fused for r in rows] == sorted((r.fused for r in rows), reverse=True)


def test_convex_sums_each_legs_min_max_scaled_score(notes) -> None:  # type: ignore[no-untyped-def]
    params = RetrievalParams(mode="hybrid", k=10, depth=10, fusion="convex", keyword_weight=0.5)
    rows = fused_rows(notes, params)
    # The whole library is in the dense leg (7 chunks < depth): its scores span [min, max] cosine.
    cosines = [r.score for r in rows if r.dense_rank]
    bm25 = [r.keyword_score for r in rows if r.keyword_rank]
    assert len(cosines) == len(NOTES) and len(bm25) >= 2
    for r in rows:
        dense = (r.score - min(cosines)) / (max(cosines) - min(cosines)) if r.dense_rank else 0.0
        words = (r.keyword_score - min(bm25)) / (max(bm25) - min(bm25)) if r.keyword_rank else 0.0
        # (The dense leg ranks by the index's half-precision vectors: the cosines agree to ~1e-4.)
        assert r.fused == pytest.approx(dense + 0.5 * words, abs=1e-3)


def test_both_rules_keep_the_evidence_the_gate_weighs(notes) -> None:  # type: ignore[no-untyped-def]
    vectors = notes.embedder.embed([QUESTION]).vectors
    for fusion in ("rrf", "convex"):
        params = RetrievalParams(mode="hybrid", k=3, depth=10, fusion=fusion)
        passages = retrieve(notes.engine, notes.kb, [QUESTION], vectors, params)
        assert len(passages) == 3, fusion
        assert all(p.dense_rank is not None for p in passages), fusion
        top_words = [p for p in passages if p.keyword_rank is not None]
        assert top_words and all(0 < p.keyword_coverage <= 1 for p in top_words), fusion
        assert all(-1 <= p.score <= 1 for p in passages), fusion


def test_the_chat_fuses_as_retrieval_params_says() -> None:
    settings = load_settings({}, secrets_file=None)
    assert settings.retrieval.fusion == RetrievalParams().fusion == "rrf"
    assert settings.retrieval.rrf_k == RetrievalParams().rrf_k == 10
    with pytest.raises(ValueError, match="fusion"):
        RetrievalParams(fusion="sum")  # type: ignore[arg-type]
