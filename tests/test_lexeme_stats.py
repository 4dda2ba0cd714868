"""lexeme_stats, BM25's document frequencies, stays equal to a recount of the chunks."""

from __future__ import annotations

import sqlalchemy as sa

from rag.ingest.pipeline import ingest_file
from rag.library.documents import delete_document
from tests.conftest import ConsoleFactory

RECOUNT = "SELECT c.knowledge_base_id, u.lexeme, count(*) FROM chunks c, unnest(c.tsv) AS u GROUP BY 1, 2"
KEPT = "SELECT knowledge_base_id, lexeme, df FROM lexeme_stats"


def stats(engine: sa.Engine) -> tuple[set[tuple[int, str, int]], set[tuple[int, str, int]]]:
    """What the triggers kept, and what counting the chunks again gives."""
    with engine.connect() as conn:
        kept = {tuple(r) for r in conn.execute(sa.text(KEPT))}
        recount = {tuple(r) for r in conn.execute(sa.text(RECOUNT))}
    return kept, recount  # type: ignore[return-value]


def test_lexeme_stats_follow_inserts_replacements_and_deletions(make_console: ConsoleFactory) -> None:
    console = make_console()
    first = ingest_file(console, "a.md", b"# Vault\n\nThe Vault appliance ships with a warranty.", user="km")
    ingest_file(console, "b.md", b"# Sync\n\nThe sync client keeps the vault in step.", user="km")
    kept, recount = stats(console.engine)
    assert kept == recount and {(console.kb.id, "vault", 2), (console.kb.id, "warranti", 1)} <= kept
    replaced = ingest_file(console, "a.md", b"# Vault\n\nThe appliance has a two year guarantee.", user="km")
    assert replaced.outcome == "replaced"
    kept, recount = stats(console.engine)
    assert kept == recount and (console.kb.id, "guarante", 1) in kept
    assert not any(lexeme == "warranti" for _, lexeme, _ in kept)
    assert first.document_id is not None
    assert delete_document(console.engine, console.kb, first.document_id)
    kept, recount = stats(console.engine)
    assert kept == recount and not any(lexeme == "guarante" for _, lexeme, _ in kept)


def test_deleting_a_knowledge_base_leaves_no_lexeme_stats(make_console: ConsoleFactory) -> None:
    console = make_console()
    ingest_file(console, "a.md", b"# Vault\n\nThe Vault appliance ships with a warranty.", user="km")
    with console.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM knowledge_bases WHERE id = :kb"), {"kb": console.kb.id})
    assert stats(console.engine) == (set(), set())
