"""The Ask page marks an answer that came from the answer cache (AppTest, local model, offline answerer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from rag.console import open_console
from rag.ingest.pipeline import ingest_file
from rag.settings import load_settings
from tests.test_pages import APP, app_env, button, run

POLICY = (
    b"# Password resets\n\nA password reset link is valid for 30 minutes. "
    b"After that, request a new link from the sign-in page."
)
QUESTION = "How long is a password reset link valid?"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Iterator[AppTest]:
    """The app on `database_url` holding one small document; its console opened afresh."""
    env = app_env(database_url, tmp_path / "data")
    console = open_console(load_settings(env, secrets_file=None))
    assert ingest_file(console, "passwords.md", POLICY, user="km").ok
    console.engine.dispose()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    yield AppTest.from_file(APP, default_timeout=120)
    st.cache_resource.clear()


def test_a_repeated_question_is_marked_as_cached(app: AppTest) -> None:
    at = run(app)

    run(at.chat_input[0].set_value(QUESTION))
    first = at.chat_message[1]
    assert "30 minutes" in first.children[0].value
    assert not [c for c in at.caption if c.value.startswith("Cached answer")]

    run(button(at, "New conversation").click())
    run(at.chat_input[0].set_value(QUESTION.lower() + "  "))
    [note] = [c.value for c in at.caption if c.value.startswith("Cached answer")]
    assert "UTC" in note and "30 minutes" in at.chat_message[1].children[0].value
    assert at.session_state["chat"]["messages"][-1]["cached_at"] is not None

    run(at.switch_page("pages/analytics_cost.py"))
    [hits] = [c.value for c in at.caption if c.value.startswith("Answer cache:")]
    assert hits.startswith("Answer cache: 1 of 2 answers came from the cache, saving $")
