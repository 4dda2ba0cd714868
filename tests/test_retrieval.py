"""Retrieval modes on a real database: full-text ORs the words, hybrid fuses ranks in SQL."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import sqlalchemy as sa

from rag.ingest.pipeline import ingest_file
from rag.providers.local_embedder import LocalEmbedder
from rag.retrieval.params import RetrievalParams
from rag.retrieval.search import COMMON_FLOOR, query_values, retrieval_query, retrieve
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder

CODES = [f"NW-{n}" for n in (4471, 9043, 1187, 6620, 3358, 7712, 2905, 5564, 8836, 1049)]
REMEDIES = [
    "the storage quota of the workspace is full and files stop syncing",
    "a file is locked by another program and cannot be uploaded",
    "the path of a file is longer than the operating system allows",
    "the proxy server refused the connection to the sync service",
    "the local disk has no free space left for new downloads",
    "the sign-in token expired and the user must log in again",
    "two people edited the same file and a conflicted copy was made",
    "the clock of the computer is wrong and certificates look invalid",
    "an antivirus program blocked the sync client from reading files",
    "the shared folder was removed by its owner and cannot sync",
]


@pytest.fixture
def error_codes(make_console: ConsoleFactory, local_embedder: LocalEmbedder):  # type: ignore[no-untyped-def]
    console = make_console(embedder=local_embedder)
    for code, remedy in zip(CODES, REMEDIES, strict=True):
        # Every document reads alike; only its code tells it apart, which embeddings barely see.
        text = f"# Sync error {code}\n\nThe sync client shows error {code} when {remedy}. Support agents should check the sync log first and then follow the usual steps for sync errors."
        assert ingest_file(console, f"{code}.md", text.encode(), user="km").ok
    return console


def mean_reciprocal_rank(console, mode: str) -> float:  # type: ignore[no-untyped-def]
    total = 0.0
    for code in CODES:
        question = f"What does sync error {code} mean?"
        vectors = console.embedder.embed([question]).vectors
        passages = retrieve(
            console.engine, console.kb, [question], vectors, RetrievalParams(mode=mode, k=10, depth=10)
        )
        ranks = [i for i, p in enumerate(passages, start=1) if code in p.document]
        total += 1 / ranks[0] if ranks else 0.0
    return total / len(CODES)


def test_hybrid_beats_dense_when_a_keyword_matters(error_codes) -> None:  # type: ignore[no-untyped-def]
    dense = mean_reciprocal_rank(error_codes, "dense")
    keyword = mean_reciprocal_rank(error_codes, "keyword")
    hybrid = mean_reciprocal_rank(error_codes, "hybrid")
    assert keyword == pytest.approx(1.0)
    assert hybrid > dense + 0.2, (dense, hybrid)


def test_every_mode_returns_k_passages_with_their_cosine_scores(error_codes) -> None:  # type: ignore[no-untyped-def]
    question = "sync error because the disk is full"
    vectors = error_codes.embedder.embed([question]).vectors
    for mode in ("dense", "keyword", "hybrid"):
        passages = retrieve(
            error_codes.engine, error_codes.kb, [question], vectors, RetrievalParams(mode=mode, k=5, depth=20)
        )
        assert [p.number for p in passages] == [1, 2, 3, 4, 5], mode
        assert all(-1.0 <= p.score <= 1.0 for p in passages)
    dense = retrieve(
        error_codes.engine, error_codes.kb, [question], vectors, RetrievalParams(mode="dense", k=5)
    )
    assert [p.score for p in dense] == sorted((p.score for p in dense), reverse=True)


def test_keyword_mode_finds_documents_containing_only_some_of_the_words(make_console: ConsoleFactory) -> None:
    console = make_console()
    ingest_file(console, "a.md", b"# Vault\n\nThe Vault appliance ships with a two year warranty.", user="km")
    ingest_file(console, "b.md", b"# Sync\n\nThe desktop client keeps folders in step.", user="km")
    question = "How long is the warranty on the backup box we sell to customers in Peru?"
    vectors = console.embedder.embed([question]).vectors
    passages = retrieve(
        console.engine, console.kb, [question], vectors, RetrievalParams(mode="keyword", k=1, depth=5)
    )
    assert [p.document for p in passages] == ["Vault"]


def test_any_question_text_is_safe_for_full_text_search(make_console: ConsoleFactory) -> None:
    console = make_console()
    ingest_file(console, "a.md", b"# Vault\n\nThe Vault appliance ships with a two year warranty.", user="km")
    for question in (
        "a & b | c:* !d 'e' <-> f",
        "'); DROP TABLE chunks; --",
        "the of and",
        "???",
        "warranty's",
    ):
        vectors = console.embedder.embed([question]).vectors
        for mode in ("keyword", "hybrid"):
            retrieve(
                console.engine, console.kb, [question], vectors, RetrievalParams(mode=mode, k=1, depth=5)
            )
    vectors = console.embedder.embed(["warranty's"]).vectors
    [hit] = retrieve(
        console.engine, console.kb, ["warranty's"], vectors, RetrievalParams(mode="keyword", k=1, depth=5)
    )
    assert hit.document == "Vault"


def test_keyword_candidates_come_from_the_questions_less_common_words(make_console: ConsoleFactory) -> None:
    console = make_console()
    for i in range(COMMON_FLOOR + 10):  # common: in more chunks than the floor, and than 5%
        ingest_file(
            console,
            f"d{i}.md",
            f"# Note {i}\n\nThe sync client reported an error on machine {i}.".encode(),
            user="km",
        )
    ingest_file(console, "quota.md", b"# Quota\n\nThe quota of the workspace is full.", user="km")
    question = "sync client error quota"  # three words in every chunk, one in a single chunk
    vectors = console.embedder.embed([question]).vectors
    passages = retrieve(
        console.engine, console.kb, [question], vectors, RetrievalParams(mode="keyword", k=3, depth=10)
    )
    assert [p.document for p in passages] == ["Quota"]  # only chunks with a less common word are candidates
    common = "sync client error"
    vectors = console.embedder.embed([common]).vectors
    passages = retrieve(
        console.engine, console.kb, [common], vectors, RetrievalParams(mode="keyword", k=3, depth=10)
    )
    assert len(passages) == 3  # with no less common word, the rarest still finds candidates


def test_the_candidate_budget_keeps_the_rarest_words_chunks(make_console: ConsoleFactory) -> None:
    console = make_console()
    for i in range(20):
        ingest_file(
            console,
            f"d{i}.md",
            f"# Note {i}\n\nThe sync client reported an error on machine {i}.".encode(),
            user="km",
        )
    ingest_file(console, "quota.md", b"# Quota\n\nThe quota of the workspace is full.", user="km")
    question = "sync client error quota"  # three words in 20 chunks, one in a single chunk
    vectors = console.embedder.embed([question]).vectors
    narrow = RetrievalParams(mode="keyword", k=3, depth=10, candidate_postings=5)
    passages = retrieve(console.engine, console.kb, [question], vectors, narrow)
    assert [p.document for p in passages] == ["Quota"]  # "sync" (in 20 chunks) would exceed 5 postings
    wide = RetrievalParams(mode="keyword", k=3, depth=10)
    passages = retrieve(console.engine, console.kb, [question], vectors, wide)
    assert len(passages) == 3 and passages[0].document == "Quota"
    common = "sync client error"
    vectors = console.embedder.embed([common]).vectors
    passages = retrieve(console.engine, console.kb, [common], vectors, narrow)
    assert len(passages) == 3  # the rarest word finds candidates whatever the budget


BM25_TEXTS = [
    "apple banana cherry",
    "apple apple banana date",
    "cherry cherry cherry elder fig grape",
    "banana kiwi",
    "kiwi lemon mango",
]


def hand_bm25(lexemes: list[dict[str, int]], question: list[str]) -> tuple[list[float], list[float]]:
    """BM25 (k1 1.2, b 0.75, lengths in lexemes) and idf coverage of each chunk, computed in Python."""
    n = len(lexemes)
    avgdl = sum(len(d) for d in lexemes) / n
    df = {q: sum(q in d for d in lexemes) for q in question}
    idf = {q: math.log(1 + (n - df[q] + 0.5) / (df[q] + 0.5)) for q in question}
    scores = [
        sum(idf[q] * d[q] * 2.2 / (d[q] + 1.2 * (0.25 + 0.75 * len(d) / avgdl)) for q in question if q in d)
        for d in lexemes
    ]
    coverage = [sum(idf[q] for q in question if q in d) / sum(idf.values()) for d in lexemes]
    return scores, coverage


def test_keyword_scores_are_bm25(make_console: ConsoleFactory) -> None:
    from rag.library.documents import NewDocument, store_document
    from rag.text.chunking import Chunk

    console = make_console(embedder=HashEmbedder(dims=16))
    chunks = [Chunk(i, text, 3, None, None, None, 0, 0) for i, text in enumerate(BM25_TEXTS)]
    doc = NewDocument("Fruit", "fruit.txt", "txt", "0" * 64, 0, [], "km")
    with console.engine.begin() as conn:
        store_document(conn, console.kb, doc, chunks, console.embedder.embed(BM25_TEXTS).vectors)
        rows = conn.execute(
            sa.text("SELECT c.id, u.lexeme, cardinality(u.positions) FROM chunks c, unnest(c.tsv) AS u")
        ).all()
        ids = conn.execute(sa.text("SELECT id FROM chunks ORDER BY position")).scalars().all()
    lexemes: dict[int, dict[str, int]] = {i: {} for i in ids}
    for chunk_id, lexeme, tf in rows:
        lexemes[chunk_id][lexeme] = tf
    question = "apple cherry banana zucchini"  # zucchini: in no chunk, still in the idf total
    scores, coverage = hand_bm25([lexemes[i] for i in ids], ["appl", "cherri", "banana", "zucchini"])
    vectors = console.embedder.embed([question]).vectors
    passages = retrieve(
        console.engine, console.kb, [question], vectors, RetrievalParams(mode="keyword", k=4, depth=5)
    )
    expected = sorted((i for i in range(len(ids)) if scores[i] > 0), key=lambda i: -scores[i])
    assert [p.chunk_id for p in passages] == [ids[i] for i in expected]
    assert [p.keyword_coverage for p in passages] == pytest.approx([coverage[i] for i in expected])
    params = RetrievalParams(mode="keyword", k=5, depth=5)
    with console.engine.connect() as conn:
        ranked = conn.execute(
            retrieval_query(console.kb, "keyword"), query_values(console.kb, question, vectors[0], params)
        ).all()
    assert {r.id: r.keyword_score for r in ranked} == pytest.approx({ids[i]: scores[i] for i in expected})


def test_a_small_knowledge_base_beside_a_large_one_still_gets_k_results(make_console: ConsoleFactory) -> None:
    from rag.library.knowledge_bases import open_knowledge_base

    big = make_console()
    for i in range(60):
        ingest_file(
            big, f"d{i}.md", f"# Note {i}\n\nShipping note number {i} about parcels.".encode(), user="km"
        )
    small_kb = open_knowledge_base(big.engine, "small", big.embedder)
    small = dataclasses.replace(big, kb=small_kb)
    for i in range(5):
        ingest_file(small, f"s{i}.md", f"# Small {i}\n\nRefund rule {i}.".encode(), user="km")
    vectors = big.embedder.embed(["shipping parcels"]).vectors
    for mode in ("dense", "hybrid"):
        passages = retrieve(
            small.engine, small.kb, ["shipping parcels"], vectors, RetrievalParams(mode=mode, k=5, depth=5)
        )
        assert len(passages) == 5 and all(p.document.startswith("Small") for p in passages), mode


def test_retrieval_params_are_validated() -> None:
    with pytest.raises(ValueError, match="mode"):
        RetrievalParams(mode="magic")
    with pytest.raises(ValueError, match="k <= depth"):
        RetrievalParams(k=10, depth=5)
    with pytest.raises(ValueError, match="ef_search"):
        RetrievalParams(ef_search=0)


def random_collection(console, n: int, seed: int):  # type: ignore[no-untyped-def]
    """`n` random unit vectors stored as one document's chunks; returns them in chunk-id order."""
    from rag.library.documents import NewDocument, store_document
    from rag.text.chunking import Chunk

    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, console.embedder.dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [Chunk(i, f"chunk {i}", 2, None, None, None, 0, 0) for i in range(n)]
    doc = NewDocument("Random", "random.txt", "txt", "0" * 64, 0, [], "km")
    with console.engine.begin() as conn:
        store_document(conn, console.kb, doc, chunks, vectors)
    return vectors


def recall_at_10(console, vectors, queries, params: RetrievalParams) -> float:  # type: ignore[no-untyped-def]
    with console.engine.connect() as conn:
        first = conn.execute(sa.text("SELECT min(id) FROM chunks")).scalar_one()
    found = 0
    for q in queries:
        exact = {int(i) + first for i in np.argsort(-(vectors @ q))[:10]}
        passages = retrieve(console.engine, console.kb, ["q"], q[None, :], params)
        found += len(exact & {p.chunk_id for p in passages})
    return found / (10 * len(queries))


def test_ef_search_reaches_the_index_scan(make_console: ConsoleFactory) -> None:
    # Random 384-d vectors are hard for HNSW: with a candidate list of 10 it misses true
    # neighbours, with 400 it finds (nearly) all. Were ef_search not applied, both would be equal.
    console = make_console(embedder=HashEmbedder(dims=384))
    vectors = random_collection(console, 3000, seed=1)
    queries = np.random.default_rng(2).normal(size=(20, 384)).astype(np.float32)
    narrow = recall_at_10(
        console, vectors, queries, RetrievalParams(mode="dense", k=10, depth=10, ef_search=10)
    )
    wide = recall_at_10(
        console, vectors, queries, RetrievalParams(mode="dense", k=10, depth=10, ef_search=400)
    )
    assert narrow < 0.9 and wide > narrow + 0.1 and wide >= 0.95, (narrow, wide)
