"""Accounts, password storage, throttled sign-in, deactivation, the audit log: rag.auth on real PostgreSQL."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from db.engine import make_engine
from rag.answer.conversations import list_conversations, start_conversation
from rag.auth.audit import audit_entries
from rag.auth.oidc import oidc_refusal
from rag.auth.passwords import hash_password, verify_password
from rag.auth.setup_code import new_setup_code
from rag.auth.throttle import SignInLimits
from rag.auth.users import (
    WRONG_CREDENTIALS,
    add_user,
    change_role,
    create_first_manager,
    get_account,
    list_accounts,
    set_active,
    set_password,
    sign_in,
)
from rag.errors import ConfigError, InvalidInput, SignInRefused
from tests.conftest import ConsoleFactory, settings_for

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
LIMITS = {"limits": SignInLimits(max_failures=3, lockout_s=300.0), "client_address": "10.0.0.1"}


def _stored_hash(engine: Engine, email: str) -> str:
    with engine.connect() as conn:
        value = conn.execute(sa.text("SELECT password_hash FROM users WHERE email = :e"), {"e": email})
        return str(value.scalar_one())


def test_passwords_are_stored_as_salted_argon2id_hashes(engine: Engine) -> None:
    add_user(engine, "Ana@Example.com", "agent", actor="test", password=PASSWORD)
    add_user(engine, "bo@example.com", "agent", actor="test", password=PASSWORD)
    stored = _stored_hash(engine, "ana@example.com")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored and stored != _stored_hash(engine, "bo@example.com")  # salted
    assert verify_password(stored, PASSWORD) and not verify_password(stored, PASSWORD + "!")
    assert not verify_password("not a hash", PASSWORD)
    with engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM users")) for v in row)
    assert PASSWORD not in dump
    with pytest.raises(InvalidInput, match="at least 10 characters"):
        hash_password("short")


def test_sign_in_checks_the_password_and_normalises_the_email(engine: Engine) -> None:
    add_user(engine, "ana@example.com", "knowledge_manager", actor="test", password=PASSWORD)
    account = sign_in(engine, "  ANA@example.com ", PASSWORD, **LIMITS)
    assert (account.email, account.role, account.last_login_at is not None) == (
        "ana@example.com",
        "knowledge_manager",
        True,
    )
    for email, password in (("ana@example.com", "wrong password"), ("nobody@example.com", PASSWORD)):
        with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
            sign_in(engine, email, password, **LIMITS)


def test_failed_sign_ins_lock_the_account_for_a_while(engine: Engine) -> None:
    add_user(engine, "ana@example.com", "agent", actor="test", password=PASSWORD)
    for _ in range(2):
        with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
            sign_in(engine, "ana@example.com", "wrong password", **LIMITS)
    sign_in(engine, "ana@example.com", PASSWORD, **LIMITS)  # a success resets the count
    for _ in range(3):
        with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
            sign_in(engine, "ana@example.com", "wrong password", **LIMITS)
    # Locked: even the right password is refused, with the same message as a wrong one.
    with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
        sign_in(engine, "ana@example.com", PASSWORD, **LIMITS)
    with engine.begin() as conn:  # the lock runs out
        conn.execute(sa.text("UPDATE users SET locked_until = now() - interval '1 second'"))
    assert sign_in(engine, "ana@example.com", PASSWORD, **LIMITS).email == "ana@example.com"


def test_a_new_password_lifts_the_lock(engine: Engine) -> None:
    add_user(engine, "ana@example.com", "agent", actor="test", password=PASSWORD)
    for _ in range(3):
        with pytest.raises(SignInRefused):
            sign_in(engine, "ana@example.com", "wrong password", **LIMITS)
    set_password(engine, "ana@example.com", "another long password", actor="boss@example.com", temporary=True)
    assert sign_in(engine, "ana@example.com", "another long password", **LIMITS)
    with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
        sign_in(engine, "ana@example.com", PASSWORD, **LIMITS)


def test_deactivated_accounts_cannot_sign_in(engine: Engine) -> None:
    add_user(engine, "boss@example.com", "manager", actor="test", password=PASSWORD)
    add_user(engine, "ana@example.com", "agent", actor="test", password=PASSWORD)
    set_active(engine, "ana@example.com", False, actor="boss@example.com")
    with pytest.raises(SignInRefused, match="deactivated"):
        sign_in(engine, "ana@example.com", PASSWORD, **LIMITS)
    # Someone guessing learns nothing about the account's state.
    with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
        sign_in(engine, "ana@example.com", "wrong password", **LIMITS)
    set_active(engine, "ana@example.com", True, actor="boss@example.com")
    assert sign_in(engine, "ana@example.com", PASSWORD, **LIMITS)


def test_accounts_without_a_password_cannot_sign_in_with_one(engine: Engine) -> None:
    add_user(engine, "oidc@example.com", "agent", actor="test")  # an OIDC-only account
    with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
        sign_in(engine, "oidc@example.com", "", **LIMITS)


def test_first_manager_is_created_once(engine: Engine) -> None:
    code = new_setup_code(engine)
    account = create_first_manager(engine, "boss@example.com", PASSWORD, setup_code=code, **LIMITS)
    assert account.role == "manager" and account.created_by == "first run"
    with pytest.raises(InvalidInput, match="An account exists already"):
        create_first_manager(engine, "intruder@example.com", PASSWORD, setup_code=code, **LIMITS)
    assert get_account(engine, "intruder@example.com") is None


def test_bad_input_is_refused_with_nothing_stored(engine: Engine) -> None:
    add_user(engine, "ana@example.com", "agent", actor="test", password=PASSWORD)
    for email, role, password, message in (
        ("not an email", "agent", PASSWORD, "is not an email address"),
        ("bo@example.com", "admin", PASSWORD, "Unknown role 'admin'"),
        ("bo@example.com", "agent", "short", "at least 10 characters"),
        ("ANA@example.com", "agent", PASSWORD, "ana@example.com already has an account"),
    ):
        with pytest.raises(InvalidInput, match=message):
            add_user(engine, email, role, actor="test", password=password)
    assert get_account(engine, "bo@example.com") is None
    assert [e.action for e in audit_entries(engine)] == ["user_added"]


def test_the_last_active_manager_stays_one(engine: Engine) -> None:
    add_user(engine, "boss@example.com", "manager", actor="test", password=PASSWORD)
    with pytest.raises(InvalidInput, match="last active manager"):
        change_role(engine, "boss@example.com", "agent", actor="boss@example.com")
    with pytest.raises(InvalidInput, match="last active manager"):
        set_active(engine, "boss@example.com", False, actor="boss@example.com")
    add_user(engine, "second@example.com", "manager", actor="boss@example.com", password=PASSWORD)
    change_role(engine, "boss@example.com", "agent", actor="second@example.com")
    account = get_account(engine, "boss@example.com")
    assert account is not None and account.role == "agent"


def test_administrative_actions_are_audited_with_who_did_them(
    engine: Engine, make_console: ConsoleFactory
) -> None:
    from rag.ingest.pipeline import ingest_file
    from rag.library.documents import delete_document, list_documents

    add_user(engine, "boss@example.com", "manager", actor="first run", password=PASSWORD)
    add_user(engine, "ana@example.com", "agent", actor="boss@example.com", password=PASSWORD)
    change_role(engine, "ana@example.com", "knowledge_manager", actor="boss@example.com")
    set_active(engine, "ana@example.com", False, actor="boss@example.com")
    set_password(engine, "ana@example.com", "another long password", actor="boss@example.com", temporary=True)
    console = make_console()
    ingest_file(console, "oven.md", b"# Oven\n\nThe oven preheats to 220 degrees.", user="ana@example.com")
    [document] = list_documents(console.engine, console.kb)
    assert document.uploaded_by == "ana@example.com"
    assert delete_document(console.engine, console.kb, document.id, user="boss@example.com")
    entries = [(e.actor, e.action, e.target, e.detail) for e in reversed(audit_entries(engine))]
    assert entries == [
        ("first run", "user_added", "boss@example.com", {"role": "manager"}),
        ("boss@example.com", "user_added", "ana@example.com", {"role": "agent"}),
        ("boss@example.com", "role_changed", "ana@example.com", {"old": "agent", "new": "knowledge_manager"}),
        ("boss@example.com", "user_deactivated", "ana@example.com", {}),
        ("boss@example.com", "password_set", "ana@example.com", {"temporary": True}),
        (
            "boss@example.com",
            "document_deleted",
            "oven.md",
            {"title": "Oven", "version": 1, "knowledge_base": "default"},
        ),
    ]
    assert [e.target for e in audit_entries(engine, action="role_changed")] == ["ana@example.com"]


def test_conversations_are_listed_per_person(engine: Engine) -> None:
    mine = start_conversation(engine, user="ana@example.com", title="Refunds")
    start_conversation(engine, user="bo@example.com", title="Passwords")
    assert [c.id for c in list_conversations(engine, user="ana@example.com")] == [mine]
    assert {c.user for c in list_conversations(engine, user=None)} == {"ana@example.com", "bo@example.com"}


def test_auth_settings_are_validated() -> None:
    assert settings_for().auth_mode == "builtin"
    assert settings_for(AUTH_MODE="OFF").auth_mode == "off"
    with pytest.raises(ConfigError, match="AUTH_MODE must be one of builtin, oidc, off"):
        settings_for(AUTH_MODE="ldap")
    with pytest.raises(ConfigError, match="LOGIN_MAX_FAILURES must be positive"):
        settings_for(LOGIN_MAX_FAILURES="0")
    defaults = settings_for()
    assert (defaults.session_hours, defaults.client_address_header) == (12.0, None)
    assert (defaults.login_address_max_failures, defaults.login_address_window_s) == (20, 900.0)
    tuned = settings_for(
        SESSION_HOURS="8", CLIENT_ADDRESS_HEADER="X-Forwarded-For", LOGIN_ADDRESS_MAX_FAILURES="0"
    )
    assert (tuned.session_hours, tuned.client_address_header, tuned.login_address_max_failures) == (
        8.0,
        "X-Forwarded-For",
        0,
    )
    with pytest.raises(ConfigError, match="SESSION_HOURS must be positive"):
        settings_for(SESSION_HOURS="0")
    with pytest.raises(ConfigError, match="LOGIN_ADDRESS_MAX_FAILURES must not be negative"):
        settings_for(LOGIN_ADDRESS_MAX_FAILURES="-1")
    with pytest.raises(ConfigError, match="LOGIN_ADDRESS_WINDOW_SECONDS positive"):
        settings_for(LOGIN_ADDRESS_WINDOW_SECONDS="0")


def rag_cli(
    database_url: str, data_dir: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """`python -m rag ARGS` offline on `database_url`, with a bare environment, `stdin` typed in."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "EMBEDDING_PROVIDER": "local",
        "ANSWER_MODE": "offline",
    }
    return subprocess.run(
        [sys.executable, "-m", "rag", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_adds_the_first_manager(database_url: str, tmp_path: Path, engine: Engine) -> None:
    def users(*args: str, password: str = "") -> subprocess.CompletedProcess[str]:
        return rag_cli(database_url, tmp_path, "users", *args, stdin=password)

    added = users("add", "Boss@Example.com", "--role", "manager", password=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added boss@example.com as manager"
    assert sign_in(engine, "boss@example.com", PASSWORD, **LIMITS).role == "manager"
    short = users("add", "ana@example.com", "--role", "agent", password="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    assert get_account(engine, "ana@example.com") is None
    listed = users("list")
    assert listed.stdout.split() == ["boss@example.com", "manager", "active"]

    # A password set from a shell is the person's own unless --temporary; either way every
    # session of the account ends.
    from rag.auth import open_session, session_account

    account = get_account(engine, "boss@example.com")
    assert account is not None and not account.must_change_password
    token = open_session(engine, account, hours=1, client_address="test")
    reset = users("password", "boss@example.com", "--temporary", password="a temporary one\n")
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.strip() == "new temporary password set for boss@example.com; signed out everywhere"
    assert session_account(engine, token, hours=1) is None
    assert sign_in(engine, "boss@example.com", "a temporary one", **LIMITS).must_change_password
    token = open_session(engine, account, hours=1, client_address="test")
    ended = users("sign-out", "boss@example.com")
    assert ended.stdout.strip() == "boss@example.com: 1 session ended"
    assert session_account(engine, token, hours=1) is None


def _concurrently(database_url: str, *actions: Callable[[Engine], None]) -> list[BaseException | None]:
    """Run each action in its own thread and transaction; each holds its commit until all of them have
    reached theirs (or two seconds have passed: an action waiting on another's lock never gets there).
    Returns what each raised."""
    barrier = threading.Barrier(len(actions), timeout=2)
    outcomes: list[BaseException | None] = [None] * len(actions)

    def run(i: int, action: Callable[[Engine], None]) -> None:
        engine = make_engine(database_url)

        @sa.event.listens_for(engine, "commit")
        def hold(_conn: sa.Connection) -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()

        try:
            action(engine)
        except BaseException as exc:  # reported to the test, whatever it is
            outcomes[i] = exc
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.parametrize("second", ["demote", "deactivate"])
def test_two_managers_removing_each_other_at_once_leave_one(
    database_url: str, engine: Engine, second: str
) -> None:
    for email in ("a@example.com", "b@example.com"):
        add_user(engine, email, "manager", actor="test", password=PASSWORD)

    def demote_b(e: Engine) -> None:
        change_role(e, "b@example.com", "agent", actor="a@example.com")

    def remove_a(e: Engine) -> None:
        if second == "demote":
            change_role(e, "a@example.com", "knowledge_manager", actor="b@example.com")
        else:
            set_active(e, "a@example.com", False, actor="b@example.com")

    outcomes = _concurrently(database_url, demote_b, remove_a)
    assert sorted(type(o).__name__ for o in outcomes) == ["InvalidInput", "NoneType"], outcomes
    assert any("last active manager" in str(o) for o in outcomes)
    managers = [a.email for a in list_accounts(engine) if a.role == "manager" and a.active]
    assert len(managers) == 1


@pytest.mark.parametrize(
    ("claims", "required", "refused"),
    [
        ({"email": "kim@corp.example", "email_verified": True}, True, None),
        ({"email": "kim@corp.example", "email_verified": "true"}, True, None),  # e.g. Cognito
        ({"email": "kim@corp.example", "email_verified": False}, True, "has not verified"),
        ({"email": "kim@corp.example", "email_verified": "false"}, True, "has not verified"),
        ({"email": "kim@corp.example"}, True, "has not verified the email address kim@corp.example"),
        ({"email": "kim@corp.example"}, False, None),  # a provider that vouches without the claim
        ({"email_verified": True}, True, "sent no email address"),
        ({"email": " ", "email_verified": True}, False, "sent no email address"),
    ],
)
def test_oidc_claims_need_a_verified_email(
    claims: dict[str, object], required: bool, refused: str | None
) -> None:
    refusal = oidc_refusal(claims, require_verified_email=required)
    if refused is None:
        assert refusal is None
    else:
        assert refusal is not None and refused in refusal


def test_oidc_settings_require_a_verified_email_unless_turned_off() -> None:
    assert settings_for().oidc_require_verified_email
    assert not settings_for(OIDC_REQUIRE_VERIFIED_EMAIL="off").oidc_require_verified_email
    with pytest.raises(ConfigError, match="OIDC_REQUIRE_VERIFIED_EMAIL must be on or off"):
        settings_for(OIDC_REQUIRE_VERIFIED_EMAIL="maybe")


def test_oidc_sign_in_with_an_unverified_email_is_refused(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path, engine: Engine
) -> None:
    """Someone whose provider lets them claim a manager's email, unverified, gets nothing."""
    add_user(engine, "lee@corp.example", "manager", actor="test")

    def app(user: dict[str, object], **extra: str) -> AppTest:
        for name, value in {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "EMBEDDING_PROVIDER": "local",
            "ANSWER_MODE": "offline",
            "AUTH_MODE": "oidc",
            **extra,
        }.items():
            monkeypatch.setenv(name, value)
        st.cache_resource.clear()
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
        at.user = {"is_logged_in": True, **user}
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    try:
        unverified = app({"email": "lee@corp.example", "email_verified": False})
        assert [t.value for t in unverified.title] == ["Knowledge Console"] and not unverified.chat_input
        assert [e.value for e in unverified.error] == [
            "Your identity provider has not verified the email address lee@corp.example, so the console "
            "cannot sign you in with it: verify it with the provider, or ask an administrator."
        ]
        assert not unverified.sidebar.children
        # A deep link to a manager's page is refused the same way.
        page = AppTest.from_file(str(REPO / "pages/users.py"), default_timeout=60)
        page.user = {"is_logged_in": True, "email": "lee@corp.example"}
        page.run()
        assert [t.value for t in page.title] == ["Knowledge Console"] and "has not verified" in page.error[
            0
        ].value

        verified = app({"email": "lee@corp.example", "email_verified": True})
        assert [t.value for t in verified.title] == ["Ask the knowledge base"] and verified.chat_input
        trusted = app({"email": "lee@corp.example"}, OIDC_REQUIRE_VERIFIED_EMAIL="off")
        assert [t.value for t in trusted.title] == ["Ask the knowledge base"]
    finally:
        st.cache_resource.clear()
