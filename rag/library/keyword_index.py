"""A knowledge base's BM25 index, where the server has pg_textsearch: the keyword leg's fast path.

pg_textsearch (Timescale) adds a `bm25` index whose top-k scan (Block-Max WAND) skips the postings
that cannot reach the top. Where the server has the library loaded (`shared_preload_libraries`),
each knowledge base gets a partial `bm25` index on its chunks' text, and retrieval ranks with it
(rag/retrieval/textsearch.py). Anywhere else the portable path serves: `lexeme_stats` and a posting
budget over the GIN index (rag/retrieval/search.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

EXTENSION = "pg_textsearch"
# The text search configuration of `chunks.tsv`, so both paths read the same lexemes.
TEXT_CONFIG = "english"
# Before 1.1.0 a bm25 index's build reads every row of the table, whatever its WHERE clause says
# (inserts afterwards do respect it): built beside another knowledge base's chunks, a partial
# index would count and return them as its own.
EXACT_PARTIAL_BUILD = (1, 1)


def keyword_index_name(kb_id: int) -> str:
    return f"ix_chunks_bm25_kb{int(kb_id)}"


def textsearch_version(conn: Connection) -> tuple[int, ...] | None:
    """pg_textsearch's version in this database, installing it if the server has it loaded and
    allows it; None if it is not there (the portable path serves)."""
    # The library sets this when it loads, which only `shared_preload_libraries` can do.
    if conn.execute(sa.text(f"SELECT current_setting('{EXTENSION}.library_version', true)")).scalar() is None:
        return None
    installed = _installed_version(conn)
    if installed is None:
        savepoint = conn.begin_nested()
        try:
            conn.execute(sa.text(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}"))
        except sa.exc.DBAPIError:  # not allowed to: the portable path serves
            savepoint.rollback()
            return None
        savepoint.commit()
        installed = _installed_version(conn)
    return None if installed is None else _parse_version(installed)


def ensure_keyword_index(conn: Connection, kb_id: int) -> str | None:
    """The knowledge base's bm25 index, created unless the server lacks pg_textsearch or it could
    not be built exactly; None means the portable path serves."""
    name = keyword_index_name(kb_id)
    version = textsearch_version(conn)
    if version is None:
        return None
    if _index_exists(conn, name):
        return name
    if version < EXACT_PARTIAL_BUILD:
        if _other_chunks_exist(conn, kb_id):
            return None
        # Writers wait while the index builds anyway; locking first makes the check hold for it.
        conn.execute(sa.text("LOCK TABLE chunks IN SHARE MODE"))
        if _other_chunks_exist(conn, kb_id):
            return None
    conn.execute(
        sa.text(
            f"CREATE INDEX IF NOT EXISTS {name} ON chunks USING bm25 (text) "
            f"WITH (text_config = '{TEXT_CONFIG}') WHERE knowledge_base_id = {int(kb_id)}"
        )
    )
    return name


def drop_keyword_index(conn: Connection, kb_id: int) -> None:
    conn.execute(sa.text(f"DROP INDEX IF EXISTS {keyword_index_name(kb_id)}"))


def _installed_version(conn: Connection) -> str | None:
    return conn.execute(
        sa.text("SELECT extversion FROM pg_extension WHERE extname = :e"), {"e": EXTENSION}
    ).scalar()


def _index_exists(conn: Connection, name: str) -> bool:
    return bool(conn.execute(sa.text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar_one())


def _other_chunks_exist(conn: Connection, kb_id: int) -> bool:
    # chunk_count is kept by the chunks triggers: no scan of the table.
    return bool(
        conn.execute(
            sa.text("SELECT EXISTS (SELECT 1 FROM knowledge_bases WHERE id <> :kb AND chunk_count > 0)"),
            {"kb": kb_id},
        ).scalar_one()
    )


def _parse_version(text: str) -> tuple[int, ...]:
    # "1.0.0", "1.5.0-dev": the leading numbers are enough to compare.
    return tuple(int(part) for part in text.split("-")[0].split(".") if part.isdigit())
