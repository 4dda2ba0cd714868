"""Who sees which page: every page x every role (and signed out), through the router and by direct link.

A page file run on its own (`AppTest.from_file("pages/x.py")`) is what a fresh process serves for a
deep link before app.py has ever run: the page's own role check is all that protects it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Widget

from db.engine import make_engine
from rag.auth import add_user, new_setup_code, revoke_session, session_account
from rag.auth.roles import ROLE_LABELS, ROLES
from rag.auth.users import change_role, set_active
from rag.console import open_console
from rag.ingest.pipeline import ingest_file
from rag.settings import load_settings
from rag.text import escape_markdown
from tests.conftest import copied_database
from tests.signin import PASSWORD, email_for, ensure_account, open_test_session, sign_in_as
from tests.test_pages import query
from ui.auth import DENIED, NOT_IN_YOUR_MENU, SESSION_KEY
from ui.page_registry import PAGES

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
FILES = [page.file for page in PAGES]  # every registered page
PAGE_ROLES = {page.file: page.roles for page in PAGES}  # the registry's role table
TITLES = {  # each page's heading
    "pages/chat.py": "Ask the knowledge base",
    "pages/documents.py": "Documents",
    "pages/freshness.py": "Document freshness",
    "pages/evaluation.py": "Evaluate retrieval",
    "pages/analytics_overview.py": "Analytics overview",
    "pages/analytics_cost.py": "Cost",
    "pages/analytics_latency.py": "Latency",
    "pages/analytics_unanswered.py": "Unanswered questions",
    "pages/users.py": "Users",
    "pages/audit.py": "Audit log",
    "pages/account.py": "My account",
}
EXPECTED = {  # written out rather than read from the registry, so a change there fails here
    "agent": {"pages/chat.py", "pages/account.py"},
    "knowledge_manager": {
        "pages/chat.py",
        "pages/documents.py",
        "pages/freshness.py",
        "pages/evaluation.py",
        "pages/analytics_unanswered.py",
        "pages/account.py",
    },
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
        assert f"**Signed in:** {escape_markdown(email_for(role))} ({ROLE_LABELS[role]})" in [
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
    assert f"**Signed in:** {escape_markdown('knowledge-manager@example.com')} (Knowledge manager)" in [
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
    assert SESSION_KEY not in at.session_state


def test_first_run_creates_the_first_manager(own_app: OwnApp) -> None:
    url = own_app()
    at = app_as(url, None)
    assert at.subheader[0].value == "Create the first manager account"
    code, email, _name, password, repeat = at.text_input
    engine = make_engine(url)
    try:
        code.input(new_setup_code(engine))  # what `python -m rag setup-code` prints
    finally:
        engine.dispose()
    email.input("Boss@Example.com")
    password.input(PASSWORD)
    repeat.input(PASSWORD + "x")
    run(at.button[0].click())
    assert [e.value for e in at.error] == ["The two passwords differ."]
    at.text_input[4].input(PASSWORD)
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
    assert notice.startswith(
        f"Added {escape_markdown('ana@example.com')} as Support agent. Temporary password: `"
    )
    temporary = notice.split("`")[1]
    engine = make_engine(url)
    try:
        from rag.auth import SignInLimits, sign_in

        signed_in = sign_in(
            engine, "ana@example.com", temporary, limits=SignInLimits(), client_address="test"
        )
        assert signed_in.role == "agent" and signed_in.must_change_password
    finally:
        engine.dispose()
    at.selectbox[1].select("ana@example.com")
    run(at)
    at.selectbox[2].select("knowledge_manager")
    run(at)
    run(next(b for b in at.button if b.label == "Change role").click())
    assert at.success[0].value == f"{escape_markdown('ana@example.com')} is now Knowledge manager."
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
    at.user = {
        "is_logged_in": True,
        "email": "kim@corp.example",
        "email_verified": True,
        "groups": ["staff", "knowledge_manager"],
    }
    run(at)
    assert titles(at) == [TITLES["pages/chat.py"]]
    run(at.switch_page("pages/documents.py"))
    assert titles(at) == ["Documents"]
    assert_unreachable(at, "pages/users.py")

    # No claim: the users table decides; unknown people get no page.
    stranger = AppTest.from_file(APP, default_timeout=60)
    stranger.user = {"is_logged_in": True, "email": "lee@corp.example", "email_verified": True}
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
    dated = escape_markdown(question)  # the title, then the date it started
    assert any(b.label.startswith(dated) for b in again.sidebar.button)
    run(next(b for b in again.button if b.label.startswith(dated)).click())
    assert again.session_state["chat"]["conversation_id"] == conversation
    assert [m.name for m in again.chat_message] == ["user", "assistant"]
    assert "220 degrees" in again.chat_message[1].children[0].value

    # Another agent sees none of it; a manager can review it, and a new question is the manager's own.
    colleague = AppTest.from_file(APP, default_timeout=60)
    sign_in_as(colleague, shared_url, "agent", email="colleague@example.com")
    assert not any(b.label.startswith(dated) for b in run(colleague).button)
    manager = app_as(shared_url, "manager")
    assert not any(b.label.startswith(dated) for b in manager.button)  # own conversations first
    run(next(t for t in manager.toggle if t.label == "Everyone's conversations").set_value(True))
    owner = escape_markdown("agent@example.com")
    run(next(b for b in manager.button if b.label.startswith(dated) and b.label.endswith(owner)).click())
    assert [m.name for m in manager.chat_message] == ["user", "assistant"]
    assert manager.session_state["chat"]["conversation_id"] is None

    overview = app_as(shared_url, "manager", str(REPO / "pages/analytics_overview.py"))
    people = overview.dataframe[-1].value
    assert "agent@example.com" in list(people["Person"])


def _session_live(url: str, token: str) -> bool:
    engine = make_engine(url)
    try:
        return session_account(engine, token, hours=12) is not None
    finally:
        engine.dispose()


def _second_tab(url: str, token: str, script: str = APP) -> AppTest:
    """Another tab of the same browser: AppTest cannot send a cookie, so the token goes in its state."""
    at = AppTest.from_file(script, default_timeout=60)
    at.session_state[SESSION_KEY] = token
    return run(at)


def _cookie_scripts(at: AppTest) -> list[str]:
    """The bodies of the cookie writer's scripts on the page (ui/session_cookie.py)."""
    return [e.proto.body for e in at.get("html") if "document.cookie" in e.proto.body]


def test_a_revoked_session_signs_the_tab_out_and_its_cookie_goes(shared_url: str) -> None:
    """Sign-out in another tab or app process revokes the session in PostgreSQL; this tab learns
    it on its next run. (The sign-out button itself is clicked in the browser tests: AppTest runs
    later reruns on the page alone, without the router's sidebar.)"""
    at = app_as(shared_url, "agent")
    token = at.session_state[SESSION_KEY]
    [writer] = _cookie_scripts(at)
    assert f"kc_session={token}; Path=/; Max-Age=43200; SameSite=Strict" in writer
    assert "agent@example.com" not in writer  # only the opaque token
    engine = make_engine(shared_url)
    try:
        revoke_session(engine, token)
    finally:
        engine.dispose()
    run(at)
    assert titles(at) == ["Knowledge Console"] and at.subheader[0].value == "Sign in"
    assert SESSION_KEY not in at.session_state
    # Through the router, the dead token's cookie is deleted, if it still holds that token.
    other = _second_tab(shared_url, token)
    assert titles(other) == ["Knowledge Console"] and other.subheader[0].value == "Sign in"
    [delete] = _cookie_scripts(other)
    assert f'["{token}"].includes' in delete and "Max-Age=0" in delete and not other.sidebar.children


def test_a_temporary_password_must_be_changed_before_anything_else(own_app: OwnApp) -> None:
    url = own_app()
    ensure_account(url, "manager")
    engine = make_engine(url)
    try:
        add_user(engine, "ana@example.com", "agent", actor="boss", password="temporary pass", temporary=True)
    finally:
        engine.dispose()
    at = app_as(url, None)
    at.text_input[0].input("ana@example.com")
    at.text_input[1].input("temporary pass")
    run(at.button[0].click())
    assert titles(at) == ["Choose a new password"] and not at.sidebar.children
    first_token = at.session_state[SESSION_KEY]
    run(at.switch_page("pages/chat.py"))  # any page: the same form, nothing of the page
    assert titles(at) == ["Choose a new password"] and not at.chat_input
    # The same for a deep link served before the router ran.
    assert titles(_second_tab(url, first_token, str(REPO / "pages/account.py"))) == ["Choose a new password"]

    current, new, repeat = at.text_input
    current.input("not the temporary one")
    new.input(PASSWORD)
    repeat.input(PASSWORD)
    run(at.button[0].click())
    assert [e.value for e in at.error] == ["The current password is wrong."]
    current, new, repeat = at.text_input
    current.input("temporary pass")
    new.input(PASSWORD)
    repeat.input(PASSWORD)
    run(at.button[0].click())
    assert titles(at) == [TITLES["pages/chat.py"]]
    assert at.session_state[SESSION_KEY] != first_token and not _session_live(url, first_token)
    assert at.chat_input  # the page itself now
    again = _second_tab(url, at.session_state[SESSION_KEY])  # through the router
    signed_in = f"**Signed in:** {escape_markdown('ana@example.com')} (Support agent)"
    assert signed_in in [c.value for c in again.sidebar.caption]


def test_my_account_changes_the_own_password_and_signs_out_other_tabs(shared_url: str) -> None:
    email = ensure_account(shared_url, "knowledge_manager", email="kim@example.com")
    at = AppTest.from_file(str(REPO / "pages/account.py"), default_timeout=60)
    sign_in_as(at, shared_url, "knowledge_manager", email=email)
    run(at)
    assert titles(at) == ["My account"]
    assert [t.value for t in at.text] == [email, "Knowledge manager", "UTC"]  # no name, no browser
    old_token = at.session_state[SESSION_KEY]
    elsewhere = _second_tab(shared_url, open_test_session(shared_url, email))
    current, new, repeat = at.text_input
    current.input(PASSWORD)
    new.input("my own long password")
    repeat.input("my own long password!")
    run(at.button[0].click())
    assert [e.value for e in at.error] == ["The two new passwords differ."]
    current, new, repeat = at.text_input
    current.input(PASSWORD)
    new.input("my own long password")
    repeat.input("my own long password")
    run(at.button[0].click())
    assert [s.value for s in at.success] == ["Password changed. Your other tabs and devices are signed out."]
    assert not _session_live(shared_url, old_token) and _session_live(
        shared_url, at.session_state[SESSION_KEY]
    )
    run(elsewhere)
    assert titles(elsewhere) == ["Knowledge Console"] and elsewhere.subheader[0].value == "Sign in"
    run(at)  # this tab goes on with its fresh session
    assert titles(at) == ["My account"]


def test_a_manager_makes_and_revokes_api_keys_shown_once(own_app: OwnApp) -> None:
    url = own_app()
    at = app_as(url, "manager", str(REPO / "pages/users.py"))
    assert "No API keys yet." in [c.value for c in at.caption]
    next(t for t in at.text_input if t.label == "Name").input("Helpdesk widget")
    run(next(b for b in at.button if b.label == "Make the key").click())
    [shown] = [c.value for c in at.code]
    assert shown.startswith("kc_") and "not be shown again" in at.success[0].value
    keys = at.dataframe[-1].value
    assert list(keys["Name"]) == ["Helpdesk widget"] and list(keys["Status"]) == ["live"]
    assert list(keys["Acts as"]) == [email_for("manager")] and shown[:10] + "…" == keys["Starts with"][0]
    engine = make_engine(url)
    try:
        from rag.auth.api_keys import key_caller

        caller = key_caller(engine, shown)
        assert caller is not None and caller.label == "key:Helpdesk widget"
        run(at)  # the key is gone from the page once shown
        assert not at.code
        run(next(b for b in at.button if b.label == "Revoke").click())
        assert list(at.dataframe[-1].value["Status"]) == ["revoked"]
        assert key_caller(engine, shown) is None
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT key_hash, prefix FROM api_keys")).one()
        assert shown not in stored and stored.prefix == shown[:10]  # only a hash is kept
    finally:
        engine.dispose()
