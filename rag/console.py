"""The console's parts wired together from settings: database, embedder, answerer, knowledge base."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy.exc
from sqlalchemy.engine import Engine, make_url

from db.embedded import EmbeddedDatabaseError, start_embedded
from db.engine import make_engine
from db.migrate import upgrade
from rag.errors import DatabaseUnavailable
from rag.library.knowledge_bases import KnowledgeBaseRef, open_knowledge_base
from rag.parsing.sandbox import prewarm as prewarm_parser
from rag.providers.embedder import Embedder
from rag.providers.factory import make_embedder, make_generator
from rag.providers.generator import Generator
from rag.settings import Settings


@dataclass(frozen=True)
class Console:
    settings: Settings
    engine: Engine
    embedder: Embedder
    generator: Generator
    kb: KnowledgeBaseRef


def open_console(settings: Settings) -> Console:
    """Start or reach the database, migrate it, and bind the configured knowledge base."""
    try:
        url = settings.database_url or start_embedded(settings.data_dir)
    except EmbeddedDatabaseError as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    engine = make_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_timeout_s=settings.db_statement_timeout_s,
    )
    try:
        upgrade(engine)
    except sqlalchemy.exc.OperationalError as exc:
        engine.dispose()
        where = make_url(engine.url).render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"PostgreSQL at {where} cannot be reached: {exc.orig}") from None
    try:
        embedder = make_embedder(settings)
        generator = make_generator(settings, embedder)
        kb = open_knowledge_base(engine, settings.knowledge_base, embedder)
    except BaseException:
        engine.dispose()
        raise
    prewarm_parser()
    return Console(settings, engine, embedder, generator, kb)


def database_label(console: Console) -> str:
    """Where the data lives, for the sidebar: never shows a password."""
    if console.settings.embedded_database:
        return f"embedded PostgreSQL in {console.settings.data_dir}/pg"
    return console.engine.url.render_as_string(hide_password=True)
