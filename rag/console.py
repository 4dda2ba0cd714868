"""The console's parts wired together from settings: database, embedder, answerer, knowledge base,
and the process-wide state they share (the rate limits of model APIs, embeddings kept for a retry).
"""

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
from rag.providers.factory import OpenAIAccess, make_embedder, make_generator
from rag.providers.generator import Generator
from rag.providers.rate_limit import RateLimiters
from rag.settings import Settings


@dataclass(frozen=True)
class Console:
    """Built once per process by `open_console` and shared by every session, upload and question.

    Its parts are the state the whole process shares: the connection pool, the embedding model,
    and the model APIs' rate limits.
    """

    settings: Settings
    engine: Engine
    embedder: Embedder
    generator: Generator
    kb: KnowledgeBaseRef
    rate_limiters: RateLimiters


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
        embedder = embedder_from_settings(settings)
        generator = generator_from_settings(settings, embedder)
        kb = open_knowledge_base(engine, settings.knowledge_base, embedder)
    except BaseException:
        engine.dispose()
        raise
    prewarm_parser()
    return Console(
        settings=settings,
        engine=engine,
        embedder=embedder,
        generator=generator,
        kb=kb,
        rate_limiters=RateLimiters(),
    )


def embedder_from_settings(settings: Settings) -> Embedder:
    return make_embedder(
        provider=settings.embedding_provider, model=settings.embedding_model, api=_openai_access(settings)
    )


def generator_from_settings(settings: Settings, embedder: Embedder) -> Generator:
    return make_generator(
        mode=settings.answer_mode,
        embedder=embedder,
        model=settings.chat_model,
        temperature=settings.chat_temperature,
        max_tokens=settings.chat_max_tokens,
        api=_openai_access(settings),
    )


def database_label(console: Console) -> str:
    """Where the data lives, for the sidebar: never shows a password."""
    if console.settings.embedded_database:
        return f"embedded PostgreSQL in {console.settings.data_dir}/pg"
    return console.engine.url.render_as_string(hide_password=True)


def _openai_access(settings: Settings) -> OpenAIAccess:
    return OpenAIAccess(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        timeout_s=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
    )
