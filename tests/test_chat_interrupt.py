"""An answer cut short on the Ask page (a click stops the run mid-stream) is logged as interrupted,
counts for the limits, and stays in the conversation's history.

AppTest stops a run that outlives its timeout the way a click stops it in the browser: the next
draw raises Streamlit's stop exception inside the streaming loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from rag.answer import INTERRUPTED
from rag.answer.limits import check_limits
from rag.console import open_console
from rag.errors import LimitReached
from rag.ingest.pipeline import ingest_file
from rag.settings import load_settings
from rag.text import escape_markdown
from tests.fake_openai import FakeOpenAI, serve
from tests.test_pages import APP, USER, app_env

fake = pytest.fixture(serve, name="fake")

POLICY = b"# Returns\n\nOpened headphones can be returned within 14 days of delivery, with the original box."
QUESTION = "How long can opened headphones be returned?"
LONG_REPLY = " ".join(["Opened headphones can be returned within 14 days [1]."] * 12)


@pytest.fixture
def env(
    fake: FakeOpenAI, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    values = app_env(
        database_url,
        tmp_path / "data",
        ANSWER_MODE="openai",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake.base_url,
        EMBEDDING_PROVIDER="local",
        MIN_RELEVANCE="0.1",
        MAX_QUESTIONS_PER_MINUTE="1",
    )
    console = open_console(load_settings(values, secrets_file=None))
    assert ingest_file(console, "returns.md", POLICY, user="km").ok
    console.engine.dispose()
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    yield values
    st.cache_resource.clear()


def test_an_answer_cut_by_a_click_is_logged_as_interrupted_and_limited(
    env: dict[str, str], fake: FakeOpenAI, database_url: str
) -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    fake.token_delay_s = 0.1  # about 10 s for the whole reply: the run is stopped long before
    fake.queue_reply(LONG_REPLY)
    at.chat_input[0].set_value(QUESTION)
    with pytest.raises(RuntimeError, match="timed out"):
        at.run(timeout=3)

    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM answers")).one()
        chat = conn.execute(sa.text("SELECT * FROM model_calls WHERE purpose = 'chat'")).one()
    assert (row.state, row.user_name, row.question, row.error) == ("interrupted", USER, QUESTION, INTERRUPTED)
    assert row.answer and LONG_REPLY.startswith(row.answer) and row.answer != LONG_REPLY
    assert (chat.answer_id, chat.usage_estimated) == (row.id, True) and chat.tokens_out > 0
    # It counts for the limits like any question (MAX_QUESTIONS_PER_MINUTE=1 here).
    settings = load_settings(env, secrets_file=None)
    with pytest.raises(LimitReached, match="1 question in the last minute"):
        check_limits(engine, settings, USER)
    engine.dispose()

    # The next run shows the cut answer in the history, marked, and refuses a new question.
    at.run()
    assert not at.exception
    assert any(escape_markdown(INTERRUPTED) in c.value for c in at.caption)
    at.chat_input[0].set_value("And for unopened ones?").run()
    assert [w.value for w in at.warning][-1].startswith("You have asked 1 question in the last minute")
