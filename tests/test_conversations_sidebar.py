"""What each role sees in the sidebar: conversations with dates and a search over one's own, the
console's details for managers only; and a refused page's way back to Ask."""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from db.engine import make_engine
from db.models import Answer, Conversation
from rag.answer.conversations import ConversationSummary, dated_title, search_conversations
from rag.console import open_console
from rag.settings import load_settings
from rag.text import escape_markdown
from tests.conftest import copied_database
from tests.signin import email_for, ensure_account, sign_in_as
from tests.test_access import env_for, run
from ui.auth import DENIED, NOT_IN_YOUR_MENU

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
REFUND = "Refund policy for annual plans"
STARTED = (datetime(2025, 12, 3, 14, 5, tzinfo=UTC), datetime(2025, 12, 4, 9, 30, tzinfo=UTC))


def _conversation(engine: sa.Engine, kb_id: int, user: str, started: datetime, *questions: str) -> None:
    with engine.begin() as conn:
        cid = conn.execute(
            sa.insert(Conversation)
            .values(user_name=user, title=questions[0], created_at=started)
            .returning(Conversation.id)
        ).scalar_one()
        for question in questions:
            conn.execute(
                sa.insert(Answer).values(
                    conversation_id=cid,
                    user_name=user,
                    knowledge_base_id=kb_id,
                    question=question,
                    answer="I don't know.",
                    answered=False,
                    answer_mode="offline",
                    model="extractive",
                    embedding_model="all-MiniLM-L6-v2",
                )
            )


@pytest.fixture(scope="module")
def url(admin_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An agent with two conversations of the same title (and a follow-up about VAT), and a
    manager's conversation the agent must not find."""
    with copied_database(admin_url, template_db) as url, pytest.MonkeyPatch.context() as mp:
        for name, value in env_for(url, tmp_path_factory.mktemp("data")).items():
            mp.setenv(name, value)
        st.cache_resource.clear()
        for role in ("agent", "manager"):
            ensure_account(url, role)
        console = open_console(load_settings(secrets_file=None))
        kb_id = console.kb.id
        console.engine.dispose()
        engine = make_engine(url)
        agent = email_for("agent")
        _conversation(engine, kb_id, agent, STARTED[0], REFUND, "Does the 50% discount include VAT?")
        _conversation(engine, kb_id, agent, STARTED[1], REFUND)
        _conversation(engine, kb_id, email_for("manager"), STARTED[1], "VAT on invoices")
        engine.dispose()
        yield url
        st.cache_resource.clear()


def _app(url: str, role: str, timezone: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if timezone:
        at.context["timezone"] = timezone
    sign_in_as(at, url, role)
    return run(at)


def _conversation_buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.sidebar.button if b.key and b.key.startswith("conversation-")]


def test_titles_carry_the_date_in_the_persons_time_zone(url: str) -> None:
    assert _conversation_buttons(_app(url, "agent")) == [
        escape_markdown(f"{REFUND} · 4 Dec 09:30"),  # no time zone from the browser: UTC
        escape_markdown(f"{REFUND} · 3 Dec 14:05"),
    ]
    assert _conversation_buttons(_app(url, "agent", "Europe/Berlin"))[1] == escape_markdown(
        f"{REFUND} · 3 Dec 15:05"
    )


def test_search_finds_ones_own_conversation_by_a_word_of_a_question(url: str) -> None:
    at = _app(url, "agent")
    at.sidebar.text_input(key="chat_search").input("vat")
    run(at)
    assert _conversation_buttons(at) == [escape_markdown(f"{REFUND} · 3 Dec 14:05")]  # not the manager's
    at.sidebar.text_input(key="chat_search").input("50%")  # literally, not a LIKE wildcard
    run(at)
    assert len(_conversation_buttons(at)) == 1
    at.sidebar.text_input(key="chat_search").input("warranty")
    run(at)
    assert not _conversation_buttons(at) and "No conversation matches." in [
        c.value for c in at.sidebar.caption
    ]


def test_search_escapes_like_wildcards(url: str) -> None:
    engine = make_engine(url)
    try:
        agent = email_for("agent")
        assert len(search_conversations(engine, user=agent, words="refund")) == 2
        assert (
            search_conversations(engine, user=agent, words="a%s") == []
        )  # unescaped, it would match "annual plans"
        assert search_conversations(engine, user=agent, words="50_") == []
        assert len(search_conversations(engine, user=None, words="vat")) == 2  # a manager reviewing
    finally:
        engine.dispose()


def test_an_unknown_time_zone_falls_back_to_utc() -> None:
    c = ConversationSummary(uuid.uuid4(), "a", "Hello", STARTED[0], 1)
    assert dated_title(c, "Not/AZone") == dated_title(c, None) == "Hello · 3 Dec 14:05"


def test_database_details_are_for_managers_only(url: str) -> None:
    agent = [c.value for c in _app(url, "agent").sidebar.caption]
    manager = [c.value for c in _app(url, "manager").sidebar.caption]
    assert not any("**Database:**" in c for c in agent)
    assert f"**Signed in:** {escape_markdown(email_for('agent'))} (Support agent)" in agent
    assert any("**Database:**" in c for c in manager)


def test_a_refused_page_links_back_to_ask(url: str) -> None:
    at = _app(url, "agent")
    run(at.switch_page("pages/analytics_cost.py"))
    assert [e.value for e in at.error] in ([NOT_IN_YOUR_MENU], [DENIED])
    links = at.main.get("page_link")
    assert [link.proto.label for link in links] == ["Back to Ask"]


def test_the_served_app_watches_no_files() -> None:
    """Streamlit's watcher would cover .venv and data/pg and overflow the inotify queue."""
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["fileWatcherType"] == "none"
