"""Migrations build the schema the models describe; each knowledge base gets its own HNSW index."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import db.rollup_models  # noqa: F401  (registers the rollup tables)
from db.engine import make_engine
from db.migrate import is_current, ours, upgrade
from db.models import Base
from rag.errors import EmbeddingModelMismatch
from rag.ingest.pipeline import ingest_file
from rag.library.indexes import INDEX_TYPE, INDEX_TYPES, ensure_vector_index, index_name
from rag.library.knowledge_bases import open_knowledge_base
from rag.retrieval.params import RetrievalParams
from rag.retrieval.search import query_plan, retrieve
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    assert is_current(engine)
    upgrade(engine)  # a second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"include_name": ours}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_a_knowledge_base_refuses_vectors_of_another_model(make_console: ConsoleFactory) -> None:
    console = make_console(embedder=HashEmbedder(dims=64))
    ingest_file(console, "a.md", b"# A\n\nShipping takes three days.", user="ana")
    with pytest.raises(EmbeddingModelMismatch, match=r"built with the embedding model hash-64 \(64.*hash-32"):
        open_knowledge_base(console.engine, "default", HashEmbedder(dims=32))
    # Another knowledge base may use another model.
    other = open_knowledge_base(console.engine, "evaluation", HashEmbedder(dims=32))
    assert other.id != console.kb.id and other.dimensions == 32


def test_an_empty_knowledge_base_can_switch_model(make_console: ConsoleFactory) -> None:
    console = make_console(embedder=HashEmbedder(dims=64))
    rebound = open_knowledge_base(console.engine, "default", HashEmbedder(dims=32))
    assert (rebound.id, rebound.embedding_model, rebound.dimensions) == (console.kb.id, "hash-32", 32)
    with console.engine.connect() as conn:
        indexdef = conn.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname LIKE '%hnsw%'")
        ).scalar_one()
    assert f"{INDEX_TYPE}(32)" in indexdef and "hnsw" in indexdef and f"{INDEX_TYPE}_cosine_ops" in indexdef


@pytest.mark.parametrize("index_type", INDEX_TYPES)
def test_retrieval_uses_the_hnsw_index_and_ranks_by_cosine(
    make_console: ConsoleFactory, index_type: str
) -> None:
    console = make_console()
    kb = dataclasses.replace(console.kb, index_type=index_type)
    with console.engine.begin() as conn:
        conn.execute(sa.text(f"DROP INDEX {index_name(kb.id)}"))
        ensure_vector_index(conn, kb)
    console = dataclasses.replace(console, kb=kb)
    for i in range(30):
        ingest_file(console, f"doc{i}.md", f"# Doc {i}\n\nTopic{i} words about item{i}.".encode(), user="ana")
    query = console.embedder.embed(["topic7 item7"]).vectors
    params = RetrievalParams(mode="dense", k=3)
    passages = retrieve(console.engine, console.kb, ["topic7 item7"], query, params)
    assert passages[0].document == "Doc 7" and [p.number for p in passages] == [1, 2, 3]
    # Scores come from the stored vectors at full precision, whatever the index holds.
    assert passages[0].score == pytest.approx(
        float(query[0] @ console.embedder.embed([passages[0].text]).vectors[0]), abs=1e-6
    )
    assert passages[0].score >= passages[1].score >= passages[2].score
    with console.engine.connect() as conn:
        definition = conn.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": index_name(kb.id)}
        ).scalar_one()
        conn.execute(sa.text("SET enable_seqscan = off"))
        plan = "\n".join(query_plan(conn, kb, "topic7 item7", query[0], params))
    assert f"{index_type}_cosine_ops" in definition
    assert f"Index Scan using {index_name(kb.id)}" in plan, plan


def test_an_index_of_the_other_type_keeps_serving_its_knowledge_base(make_console: ConsoleFactory) -> None:
    # A knowledge base indexed before the default type changed is queried as its index was built.
    console = make_console()
    other = next(t for t in INDEX_TYPES if t != INDEX_TYPE)
    with console.engine.begin() as conn:
        conn.execute(sa.text(f"DROP INDEX {index_name(console.kb.id)}"))
        ensure_vector_index(conn, dataclasses.replace(console.kb, index_type=other))
    kb = open_knowledge_base(console.engine, console.kb.name, console.embedder)
    assert (console.kb.index_type, kb.index_type) == (INDEX_TYPE, other)
    ingest_file(console, "a.md", b"# A\n\nShipping takes three days.", user="ana")
    query = console.embedder.embed(["shipping"]).vectors
    with console.engine.connect() as conn:
        conn.execute(sa.text("SET enable_seqscan = off"))
        plan = "\n".join(query_plan(conn, kb, "shipping", query[0], RetrievalParams(mode="dense")))
    assert f"Index Scan using {index_name(kb.id)}" in plan, plan


def test_text_statistics_follow_every_insert_replace_and_delete(make_console: ConsoleFactory) -> None:
    from rag.library.documents import delete_document

    console = make_console(CHUNK_TOKENS="40", CHUNK_OVERLAP="5")

    def stats() -> tuple[tuple[int, int], tuple[int, int]]:
        with console.engine.connect() as conn:
            kept = conn.execute(
                sa.text("SELECT chunk_count, lexeme_count FROM knowledge_bases WHERE id = :kb"),
                {"kb": console.kb.id},
            ).one()
            actual = conn.execute(
                sa.text(
                    "SELECT count(*), coalesce(sum(length(tsv)), 0) FROM chunks WHERE knowledge_base_id = :kb"
                ),
                {"kb": console.kb.id},
            ).one()
        return tuple(kept), tuple(actual)

    first = ingest_file(
        console, "a.md", b"# A\n\n" + b"Shipping takes three days to Germany. " * 20, user="ana"
    )
    ingest_file(console, "b.md", b"# B\n\nRefunds are paid in five business days.", user="ana")
    kept, actual = stats()
    assert kept == actual and kept[0] > 2
    ingest_file(console, "a.md", b"# A\n\nShipping now takes two days.", user="ana")  # replaces a.md
    kept, actual = stats()
    assert kept == actual and kept[0] == 2
    assert first.document_id is not None and delete_document(console.engine, console.kb, first.document_id)
    kept, actual = stats()
    assert kept == actual and kept[0] == 1
