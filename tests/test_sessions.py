"""Sessions in PostgreSQL, own password changes and sign-in throttling by address: rag.auth on real
PostgreSQL. (The same through the pages: tests/test_access.py; in a browser, across two app
processes: tests/browser/test_sessions.py.)"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.engine import make_engine
from rag.auth import (
    SignInLimits,
    add_user,
    change_own_password,
    get_account,
    open_session,
    revoke_account_sessions,
    revoke_session,
    session_account,
    set_active,
    set_password,
    sign_in,
)
from rag.auth import users as users_module
from rag.auth.users import TOO_MANY, WRONG_CREDENTIALS, WRONG_CURRENT
from rag.errors import InvalidInput, SignInRefused

PASSWORD = "correct horse battery"
NEW = "a brand new passphrase"
HOURS = 12.0
LIMITS = SignInLimits(max_failures=3, lockout_s=300.0, address_max_failures=5, address_window_s=900.0)


def _person(engine: Engine, email: str = "ana@example.com", *, temporary: bool = False) -> str:
    add_user(engine, email, "agent", actor="test", password=PASSWORD, temporary=temporary)
    return email


def _session(engine: Engine, email: str) -> str:
    account = get_account(engine, email)
    assert account is not None
    return open_session(engine, account, hours=HOURS, client_address="10.0.0.1")


def _live(engine: Engine, token: str) -> bool:
    return session_account(engine, token, hours=HOURS) is not None


def _sql(engine: Engine, statement: str, **params: object) -> list[sa.Row[tuple[object, ...]]]:
    with engine.begin() as conn:
        result = conn.execute(sa.text(statement), params)
        return list(result) if result.returns_rows else []


def test_a_session_is_stored_as_the_hash_of_its_token(engine: Engine) -> None:
    email = _person(engine)
    token = _session(engine, email)
    assert len(token) == 43  # secrets.token_urlsafe(32)
    [(stored, address, lifetime)] = _sql(
        engine, "SELECT token_hash, client_address, expires_at - created_at FROM user_sessions"
    )
    assert stored == hashlib.sha256(token.encode()).hexdigest() and address == "10.0.0.1"
    assert lifetime.total_seconds() == pytest.approx(HOURS * 3600, abs=5)
    account = session_account(engine, token, hours=HOURS)
    assert account is not None and (account.email, account.role) == (email, "agent")
    assert session_account(engine, token + "x", hours=HOURS) is None
    assert session_account(engine, stored, hours=HOURS) is None  # the stored hash is no token


def test_use_slides_the_expiry_but_writes_at_most_once_a_minute(engine: Engine) -> None:
    token = _session(engine, _person(engine))
    _sql(engine, "UPDATE user_sessions SET last_seen_at = now() - interval '30 seconds'")
    [(seen_before,)] = _sql(engine, "SELECT last_seen_at FROM user_sessions")
    assert _live(engine, token)
    assert _sql(engine, "SELECT last_seen_at FROM user_sessions") == [(seen_before,)]  # no write

    # Last used 11 hours ago: one hour left; using it gives it 12 again.
    _sql(
        engine,
        "UPDATE user_sessions SET last_seen_at = now() - interval '11 hours', "
        "expires_at = now() + interval '1 hour'",
    )
    assert _live(engine, token)
    [(left, idle)] = _sql(engine, "SELECT expires_at - now(), now() - last_seen_at FROM user_sessions")
    assert left.total_seconds() == pytest.approx(HOURS * 3600, abs=5) and idle.total_seconds() < 5


def test_an_expired_session_signs_no_one_in(engine: Engine) -> None:
    token = _session(engine, _person(engine))
    _sql(engine, "UPDATE user_sessions SET expires_at = now() - interval '1 second'")
    assert not _live(engine, token)


def test_revoking_one_session_leaves_the_others(engine: Engine) -> None:
    email = _person(engine)
    laptop, phone = _session(engine, email), _session(engine, email)
    revoke_session(engine, laptop)
    assert not _live(engine, laptop) and _live(engine, phone)
    assert revoke_account_sessions(engine, email) == 1 and not _live(engine, phone)
    with pytest.raises(InvalidInput, match="There is no account for nobody"):
        revoke_account_sessions(engine, "nobody@example.com")


def test_a_password_set_by_a_manager_ends_every_session_and_must_be_changed(engine: Engine) -> None:
    email = _person(engine)
    tokens = [_session(engine, email) for _ in range(3)]
    set_password(engine, email, "a temporary password", actor="boss@example.com", temporary=True)
    assert not any(_live(engine, t) for t in tokens)
    account = sign_in(engine, email, "a temporary password", limits=LIMITS, client_address="10.0.0.1")
    assert account.must_change_password
    token = _session(engine, email)
    live = session_account(engine, token, hours=HOURS)
    assert live is not None and live.must_change_password
    set_password(engine, email, "set from a shell", actor="command line", temporary=False)
    assert not _live(engine, token)
    account = get_account(engine, email)
    assert account is not None and not account.must_change_password


def test_an_own_password_change_clears_the_flag_and_keeps_only_a_fresh_session(engine: Engine) -> None:
    email = _person(engine, temporary=True)
    here, elsewhere = _session(engine, email), _session(engine, email)
    fresh = change_own_password(
        engine, email, PASSWORD, NEW, limits=LIMITS, client_address="10.0.0.1", session_hours=HOURS
    )
    assert not _live(engine, here) and not _live(engine, elsewhere)
    account = session_account(engine, fresh, hours=HOURS)
    assert account is not None and not account.must_change_password
    assert sign_in(engine, email, NEW, limits=LIMITS, client_address="10.0.0.1").email == email
    with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
        sign_in(engine, email, PASSWORD, limits=LIMITS, client_address="10.0.0.1")
    assert _sql(engine, "SELECT actor, action, target FROM audit_log WHERE action = 'password_changed'") == [
        (email, "password_changed", email)
    ]


def test_an_own_password_change_checks_the_current_one_like_a_sign_in(engine: Engine) -> None:
    email = _person(engine)

    def change(current: str, new: str = NEW) -> str:
        return change_own_password(
            engine, email, current, new, limits=LIMITS, client_address="10.0.0.2", session_hours=HOURS
        )

    with pytest.raises(InvalidInput, match="not the current one"):
        change(PASSWORD, PASSWORD)
    with pytest.raises(InvalidInput, match="at least 10 characters"):
        change(PASSWORD, "short")
    for _ in range(LIMITS.max_failures):
        with pytest.raises(SignInRefused, match=WRONG_CURRENT):
            change("not my password")
    with pytest.raises(SignInRefused, match=TOO_MANY):  # locked, as after wrong sign-ins
        change(PASSWORD)
    with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
        sign_in(engine, email, PASSWORD, limits=LIMITS, client_address="10.0.0.3")


def test_deactivation_ends_every_session(engine: Engine) -> None:
    email = _person(engine)
    tokens = [_session(engine, email) for _ in range(2)]
    set_active(engine, email, False, actor="boss@example.com")
    assert not any(_live(engine, t) for t in tokens)
    set_active(engine, email, True, actor="boss@example.com")
    assert not any(_live(engine, t) for t in tokens)  # reactivation brings no session back


def test_role_changes_keep_the_session_and_apply_at_once(engine: Engine) -> None:
    from rag.auth import change_role

    email = _person(engine)
    token = _session(engine, email)
    change_role(engine, email, "knowledge_manager", actor="boss@example.com")
    account = session_account(engine, token, hours=HOURS)
    assert account is not None and account.role == "knowledge_manager"


def test_two_app_processes_share_sessions(database_url: str) -> None:
    """Two engines, as two app processes behind a load balancer would have."""
    first, second = make_engine(database_url), make_engine(database_url)
    try:
        email = _person(first)
        token = _session(first, email)
        account = session_account(second, token, hours=HOURS)
        assert account is not None and account.email == email
        revoke_session(second, token)  # signed out through the other process
        assert not _live(first, token)
    finally:
        first.dispose()
        second.dispose()


Attempt = Callable[[], object]


def _count_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Argon2 verifications sign-in runs, by the hash they check against."""
    seen: list[str] = []
    real = users_module.verify_password

    def counting(stored_hash: str, password: str) -> bool:
        seen.append(stored_hash)
        return real(stored_hash, password)

    monkeypatch.setattr(users_module, "verify_password", counting)
    return seen


def test_unknown_locked_and_wrong_look_alike(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _person(engine, "ana@example.com")
    _person(engine, "locked@example.com")
    add_user(engine, "oidc@example.com", "agent", actor="test")  # no password
    _sql(
        engine,
        "UPDATE users SET locked_until = now() + interval '5 minutes' WHERE email = 'locked@example.com'",
    )
    verifications = _count_verifications(monkeypatch)
    limits = SignInLimits(max_failures=99, address_max_failures=0)
    for email, password in (
        ("nobody@example.com", PASSWORD),  # unknown
        ("ana@example.com", "wrong password"),  # wrong
        ("locked@example.com", PASSWORD),  # locked, with the right password
        ("oidc@example.com", PASSWORD),  # no password to check
    ):
        verifications.clear()
        with pytest.raises(SignInRefused) as refused:
            sign_in(engine, email, password, limits=limits, client_address="10.0.0.1")
        assert str(refused.value) == WRONG_CREDENTIALS, email
        assert len(verifications) == 1, email  # the same cost: one Argon2 verification each


def test_failures_from_one_address_are_throttled_across_accounts(engine: Engine) -> None:
    for n in range(3):
        _person(engine, f"p{n}@example.com")
    # Spraying: one guess at each of many accounts, known or not.
    for n in range(LIMITS.address_max_failures):
        with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
            sign_in(engine, f"p{n}@example.com", "Winter2026!", limits=LIMITS, client_address="203.0.113.7")
    # Now even a right password is refused from that address, with the same message, and no
    # account has come near its own lock.
    with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
        sign_in(engine, "p0@example.com", PASSWORD, limits=LIMITS, client_address="203.0.113.7")
    assert _sql(engine, "SELECT max(failed_logins) FROM users") == [(1,)]
    assert _sql(engine, "SELECT count(*) FROM sign_in_failures") == [(LIMITS.address_max_failures,)]
    # Other addresses are not affected.
    assert sign_in(engine, "p0@example.com", PASSWORD, limits=LIMITS, client_address="198.51.100.1")
    # Once the window has passed the address may try again; failures that old are deleted.
    _sql(engine, "UPDATE sign_in_failures SET created_at = now() - interval '16 minutes'")
    assert sign_in(engine, "p1@example.com", PASSWORD, limits=LIMITS, client_address="203.0.113.7")
    with pytest.raises(SignInRefused):
        sign_in(engine, "p1@example.com", "wrong again", limits=LIMITS, client_address="203.0.113.7")
    assert _sql(engine, "SELECT client_address, email FROM sign_in_failures") == [
        ("203.0.113.7", "p1@example.com")
    ]


def test_address_throttling_can_be_turned_off(engine: Engine) -> None:
    email = _person(engine)
    limits = SignInLimits(max_failures=99, address_max_failures=0)
    for _ in range(25):
        with pytest.raises(SignInRefused):
            sign_in(engine, email, "wrong password", limits=limits, client_address="10.0.0.9")
    assert sign_in(engine, email, PASSWORD, limits=limits, client_address="10.0.0.9").email == email


def test_the_cookie_scripts_carry_only_the_token_and_are_deterministic() -> None:
    from ui.browser_session import first_address
    from ui.session_cookie import delete_script, set_script

    token = "A" * 21 + "-_" + "z" * 20
    script = set_script(token, 43200)
    assert script == set_script(token, 43200)  # the same text: a rerun does not run it again
    assert f'"kc_session={token}; Path=/; Max-Age=43200; SameSite=Strict"' in script
    assert '(location.protocol === "https:" ? "; Secure" : "")' in script
    with pytest.raises(ValueError, match="not a session token"):
        set_script('"; alert(1); "', 60)
    deleted = delete_script([token, "</script><script>alert(1)</script>", token])
    assert f'["{token}"].includes' in deleted and "alert" not in deleted and "Max-Age=0" in deleted
    assert first_address(" 203.0.113.7 , 10.0.0.1") == "203.0.113.7"
    assert first_address("") is None and first_address(None) is None
