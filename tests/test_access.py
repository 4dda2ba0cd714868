"""Who sees which page: every page x every role (and signed out), through the router and by direct link.

A page file run on its own (`AppTest.from_file("pages/x.py")`) is what a fresh process serves for a
deep link before app.py has ever run: the page's own role check is all that protects it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Widget

from db.engine import make_engine
from rag.auth.roles import ROLE_LABELS, ROLES
from rag.auth.users import change_role, set_active
from rag.console import open_console
from rag.ingest.pipeline import ingest_file
from rag.settings import load_settings
from tests.conftest import copied_database
from tests.signin import PASSWORD, email_for, ensure_account, sign_in_as
from tests.test_pages import query
from ui.auth import DENIED, NOT_IN_YOUR_MENU
from ui.page_registry import PAGES

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
FILES = [page.file for page in PAGES]  # every registered page
PAGE_ROLES = {page.file: page.roles for page in PAGES}  # the registry's role table
TITLES = {  # each page's heading
    "pages/chat.py": "Ask the knowledge base",
    "pages/documents.py": "Documents",
    "pages/evaluation.py": "Evaluate retrieval",
    "pages/analytics_overview.py": "Analytics overview",
    "pages/analytics_cost.py": "Cost",
    "pages/analytics_latency.py": "Latency",
    "pages/analytics_unanswered.py": "Unanswered questions",
    "pages/users.py": "Users",
    "pages/audit.py": "Audit log",
}
EXPECTED = {  # written out rather than read from the registry, so a change there fails here
    "agent": {"pages/chat.py"},
    "knowledge_manager": {"pages/chat.py", "pages/documents.py", "pages/evaluation.py"},
    "manager": set(TITLES),
}


def env_for(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "EMBEDDING_PROVIDER": "local",
        "ANSWER_MODE": "offline",
        "AUTH_MODE": "builtin",
        **extra,
    }


@pytest.fixture(scope="module")
def shared_url(admin_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database and one cached console for the module, with an account of each role."""
    with copied_database(admin_url, template_db) as url, pytest.MonkeyPatch.context() as mp:
        for name, value in env_for(url, tmp_path_factory.mktemp("data")).items():
            mp.setenv(name, value)
        st.cache_resource.clear()
        for role in ROLES:
            ensure_account(url, role)
        _add_a_document()
        yield url
        st.cache_resource.clear()


def _add_a_document() -> None:
    """A non-empty library: the Ask page's "go to Documents" link needs the router's page list."""
    console = open_console(load_settings(secrets_file=None))
    try:
        assert ingest_file(console, "oven.md", b"# Oven\n\nThe oven preheats to 220 degrees.", user="t").ok
    finally:
        console.engine.dispose()


OwnApp = Callable[..., str]


@pytest.fixture
def own_app(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Iterator[OwnApp]:
    """A fresh database (no accounts) and console for one test; returns the database URL."""

    def configure(**extra: str) -> str:
        for name, value in env_for(database_url, tmp_path / "data", **extra).items():
            monkeypatch.setenv(name, value)
        st.cache_resource.clear()
        return database_url

    yield configure
    st.cache_resource.clear()


def run(target: AppTest | Widget) -> AppTest:
    """Run the script (after a widget change, if given one) and fail on any exception it raised."""
    at = target.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def assert_unreachable(at: AppTest, page: str) -> None:
    run(at.switch_page(page))
    assert TITLES[page] not in titles(at) and [e.value for e in at.error] in ([NOT_IN_YOUR_MENU], [DENIED])


def app_as(url: str, role: str | None, script: str = APP) -> AppTest:
    at = AppTest.from_file(script, default_timeout=60)
    if role is not None:
        sign_in_as(at, url, role)
    return run(at)


def test_the_role_table_is_the_expected_one() -> None:
    assert {role: {p for p, roles in PAGE_ROLES.items() if role in roles} for role in ROLES} == EXPECTED


@pytest.mark.parametrize("role", [*ROLES, None])
@pytest.mark.parametrize("page", FILES)
def test_direct_link_on_a_fresh_app(shared_url: str, page: str, role: str | None) -> None:
    at = app_as(shared_url, role, str(REPO / page))
    if role is None:
        assert titles(at) == ["Knowledge Console"] and at.subheader[0].value == "Sign in"
        assert [b.label for b in at.button] == ["Sign in"] and not at.sidebar.children
    elif page in EXPECTED[role]:
        assert TITLES[page] in titles(at) and DENIED not in [e.value for e in at.error]
    else:
        assert [e.value for e in at.error] == [DENIED]
        assert len(at.main.children) == 1 and not at.sidebar.children  # nothing else of the page


@pytest.mark.parametrize("role", [*ROLES, None])
@pytest.mark.parametrize("page", FILES)
def test_through_the_router(shared_url: str, page: str, role: str | None) -> None:
    """Open the app, then go to the page. (AppTest runs a page switched to straight from pages/, so
    the router's own gate, NOT_IN_YOUR_MENU, is proven by the browser test.)"""
    at = app_as(shared_url, role)
    if role is None:
        assert titles(at) == ["Knowledge Console"] and at.subheader[0].value == "Sign in"
        assert not at.sidebar.children  # no menu for someone signed out
    else:
        assert titles(at) == [TITLES["pages/chat.py"]]  # everyone lands on Ask
        assert f"**Signed in:** {email_for(role)} ({ROLE_LABELS[role]})" in [
            c.value for c in at.sidebar.caption
        ]
    run(at.switch_page(page))
    if role is None:
        assert titles(at) == ["Knowledge Console"] and at.subheader[0].value == "Sign in"
    elif page in EXPECTED[role]:
        assert TITLES[page] in titles(at) and not at.error
    else:
        assert TITLES[page] not in titles(at) and not at.title
        assert [e.value for e in at.error] in ([NOT_IN_YOUR_MENU], [DENIED])


def test_sign_in_form(shared_url: str) -> None:
    at = app_as(shared_url, None)
    at.text_input[0].input(email_for("knowledge_manager"))
    at.text_input[1].input("wrong password")
    run(at.button[0].click())
    assert [e.value for e in at.error] == ["Wrong email or password."] and titles(at) == ["Knowledge Console"]
    at.text_input[1].input(PASSWORD)
    run(at.button[0].click())
    assert titles(at) == [TITLES["pages/chat.py"]]
    assert "**Signed in:** knowledge-manager@example.com (Knowledge manager)" in [
        c.value for c in at.sidebar.caption
    ]
    assert "Sign out" in [b.label for b in at.sidebar.button]  # clicked in the browser test


def test_deactivation_and_demotion_apply_on_the_next_run(shared_url: str) -> None:
    email = ensure_account(shared_url, "knowledge_manager", email="leaving@example.com")
    at = AppTest.from_file(str(REPO / "pages/documents.py"), default_timeout=60)
    sign_in_as(at, shared_url, "knowledge_manager", email=email)
    assert titles(run(at)) == ["Documents"]
    engine = make_engine(shared_url)
    try:
        change_role(engine, email, "agent", actor="test")
        run(at)
        assert [e.value for e in at.error] == [DENIED] and not at.title
        set_active(engine, email, False, actor="test")
    finally:
        engine.dispose()
    run(at)
    assert titles(at) == ["Knowledge Console"] and at.subheader[0].value == "Sign in"
    assert "signed_in_email" not in at.session_state


def test_first_run_creates_the_first_manager(own_app: OwnApp) -> None:
    url = own_app()
    at = app_as(url, None)
    assert at.subheader[0].value == "Create the first manager account"
    email, _name, password, repeat = at.text_input
    email.input("Boss@Example.com")
    password.input(PASSWORD)
    repeat.input(PASSWORD + "x")
    run(at.button[0].click())
    assert [e.value for e in at.error] == ["The two passwords differ."]
    at.text_input[3].input(PASSWORD)
    run(at.button[0].click())
    assert titles(at) == [TITLES["pages/chat.py"]]
    run(at.switch_page("pages/users.py"))
    people = at.dataframe[0].value
    assert list(people["Email"]) == ["boss@example.com"] and list(people["Role"]) == ["Manager"]
    # From now on a signed-out visitor gets the sign-in form, not a second first run.
    assert app_as(url, None).subheader[0].value == "Sign in"


def test_a_manager_adds_promotes_and_deactivates_people_and_the_audit_log_shows_it(own_app: OwnApp) -> None:
    url = own_app()
    at = app_as(url, "manager", str(REPO / "pages/users.py"))
    at.text_input[0].input("ana@example.com")
    at.selectbox[0].select("agent")
    run(at.button[0].click())
    notice = at.success[0].value
    assert notice.startswith("Added ana@example.com as Support agent. Temporary password: `")
    temporary = notice.split("`")[1]
    engine = make_engine(url)
    try:
        from rag.auth.users import sign_in

        assert sign_in(engine, "ana@example.com", temporary, max_failures=5, lockout_s=60).role == "agent"
    finally:
        engine.dispose()
    at.selectbox[1].select("ana@example.com")
    run(at)
    at.selectbox[2].select("knowledge_manager")
    run(at)
    run(next(b for b in at.button if b.label == "Change role").click())
    assert at.success[0].value == "ana@example.com is now Knowledge manager."
    at.selectbox[1].select("ana@example.com")
    run(at)
    run(next(b for b in at.button if b.label == "Deactivate").click())
    people = at.dataframe[0].value.set_index("Email")
    assert people.loc["ana@example.com", "Role"] == "Knowledge manager"
    assert not people.loc["ana@example.com", "Active"]
    # The last manager cannot lock everyone out.
    at.selectbox[1].select(email_for("manager"))
    run(at)
    run(next(b for b in at.button if b.label == "Deactivate").click())
    assert "last active manager" in at.error[0].value

    audit = app_as(url, "manager", str(REPO / "pages/audit.py")).dataframe[0].value
    assert list(zip(audit["Who"], audit["Action"], audit["On"], strict=True))[:3] == [
        ("manager@example.com", "Deactivated", "ana@example.com"),
        ("manager@example.com", "Role changed", "ana@example.com"),
        ("manager@example.com", "Person added", "ana@example.com"),
    ]


def test_sign_in_off_says_so_on_every_page(own_app: OwnApp) -> None:
    url = own_app(AUTH_MODE="off", CONSOLE_USER="trial")
    at = app_as(url, None)
    for page in FILES:
        run(at.switch_page(page))
        assert TITLES[page] in titles(at), page
        assert any("Sign-in is off" in m.value for m in at.markdown), page
    assert not [b for b in at.sidebar.button if b.label == "Sign out"]


def test_oidc_roles_from_a_claim_or_from_the_users_table(own_app: OwnApp) -> None:
    url = own_app(AUTH_MODE="oidc", OIDC_ROLE_CLAIM="groups")
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = {"is_logged_in": False}
    run(at)
    assert [b.label for b in at.button] == ["Sign in"] and titles(at) == ["Knowledge Console"]

    # A role in the identity provider's claim.
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = {"is_logged_in": True, "email": "kim@corp.example", "groups": ["staff", "knowledge_manager"]}
    run(at)
    assert titles(at) == [TITLES["pages/chat.py"]]
    run(at.switch_page("pages/documents.py"))
    assert titles(at) == ["Documents"]
    assert_unreachable(at, "pages/users.py")

    # No claim: the users table decides; unknown people get no page.
    stranger = AppTest.from_file(APP, default_timeout=60)
    stranger.user = {"is_logged_in": True, "email": "lee@corp.example"}
    run(stranger)
    assert "no role in the console yet" in stranger.warning[0].value and not stranger.chat_input
    ensure_account(url, "manager", email="lee@corp.example")
    run(stranger)
    assert titles(stranger) == [TITLES["pages/chat.py"]] and stranger.chat_input

    # A deactivated account is refused even when the claim carries a role.
    ensure_account(url, "agent", email="kim@corp.example")
    engine = make_engine(url)
    try:
        set_active(engine, "kim@corp.example", False, actor="test")
    finally:
        engine.dispose()
    run(at)
    assert "deactivated" in at.error[0].value and titles(at) == ["Knowledge Console"]


def test_answers_and_conversations_belong_to_their_person(shared_url: str) -> None:
    question = "What temperature does the oven preheat to?"
    agent = app_as(shared_url, "agent")
    run(agent.chat_input[0].set_value(question))
    assert "220 degrees" in agent.chat_message[1].children[0].value
    conversation = agent.session_state["chat"]["conversation_id"]
    [(who,)] = query(shared_url, "SELECT user_name FROM answers WHERE conversation_id = :c", c=conversation)
    assert who == "agent@example.com"

    # The asker's sidebar lists the conversation and reopens it in a fresh session.
    again = app_as(shared_url, "agent")
    assert question in [b.label for b in again.sidebar.button]
    run(next(b for b in again.button if b.label == question).click())
    assert again.session_state["chat"]["conversation_id"] == conversation
    assert [m.name for m in again.chat_message] == ["user", "assistant"]
    assert "220 degrees" in again.chat_message[1].children[0].value

    # Another agent sees none of it; a manager can review it, and a new question is the manager's own.
    colleague = AppTest.from_file(APP, default_timeout=60)
    sign_in_as(colleague, shared_url, "agent", email="colleague@example.com")
    assert question not in [b.label for b in run(colleague).button]
    manager = app_as(shared_url, "manager")
    assert question not in [b.label for b in manager.button]  # own conversations first
    run(next(t for t in manager.toggle if t.label == "Everyone's conversations").set_value(True))
    run(next(b for b in manager.button if b.label == f"{question} · agent@example.com").click())
    assert [m.name for m in manager.chat_message] == ["user", "assistant"]
    assert manager.session_state["chat"]["conversation_id"] is None

    overview = app_as(shared_url, "manager", str(REPO / "pages/analytics_overview.py"))
    people = overview.dataframe[-1].value
    assert "agent@example.com" in list(people["Person"])
