"""Each knowledge base's HNSW index is built with the graph parameters asked for, in pgvector's ranges."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from rag.library.indexes import HNSW_EF_CONSTRUCTION, HNSW_M, ensure_vector_index, index_name, vector_index
from tests.conftest import ConsoleFactory


def _definition(conn: sa.Connection, kb_id: int) -> str:
    return str(
        conn.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": index_name(kb_id)}
        ).scalar_one()
    )


def test_a_new_knowledge_base_gets_the_apps_graph_parameters(make_console: ConsoleFactory) -> None:
    console = make_console()
    with console.engine.connect() as conn:
        definition = _definition(conn, console.kb.id)
    assert f"m='{HNSW_M}'" in definition and f"ef_construction='{HNSW_EF_CONSTRUCTION}'" in definition


def test_an_index_can_be_built_with_other_graph_parameters(make_console: ConsoleFactory) -> None:
    console = make_console()
    with console.engine.begin() as conn:
        conn.execute(sa.text(f"DROP INDEX {index_name(console.kb.id)}"))
        ensure_vector_index(conn, console.kb, m=8, ef_construction=40)
        definition = _definition(conn, console.kb.id)
    assert "m='8'" in definition and "ef_construction='40'" in definition


@pytest.mark.parametrize(
    ("m", "ef_construction", "message"),
    [(1, 64, "2 <= m <= 100"), (101, 256, "2 <= m <= 100"), (32, 63, "2 \\* m <= ef_construction")],
)
def test_graph_parameters_outside_pgvectors_ranges_are_refused(
    make_console: ConsoleFactory, m: int, ef_construction: int, message: str
) -> None:
    console = make_console()
    with pytest.raises(ValueError, match=message):
        vector_index(console.kb, m=m, ef_construction=ef_construction)
