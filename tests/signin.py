"""Signing AppTests in: the helper every page test uses.

    at = AppTest.from_file(APP)
    sign_in_as(at, database_url, "agent")   # creates agent@example.com if missing
    at.run()

`sign_in_as` opens a real session in PostgreSQL and puts its token in the session state, as the
sign-in form does after a right password (AppTest cannot send the cookie a browser would); every
run then reads the account again (role, active, the session revoked or expired) like a real
session. Tests that are not about sign-in can instead set `AUTH_MODE=off` in the app's environment.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from db.engine import make_engine
from rag.auth import add_user, get_account, open_session
from ui.auth import SESSION_KEY

PASSWORD = "correct horse battery"


def email_for(role: str) -> str:
    return f"{role.replace('_', '-')}@example.com"


def ensure_account(database_url: str, role: str, *, email: str | None = None) -> str:
    """An active account with `role` and PASSWORD; returns its email."""
    engine = make_engine(database_url)
    try:
        address = email or email_for(role)
        if get_account(engine, address) is None:
            add_user(engine, address, role, actor="test", password=PASSWORD)
        return address
    finally:
        engine.dispose()


def open_test_session(database_url: str, email: str) -> str:
    """A live session of the account `email`; returns its token."""
    engine = make_engine(database_url)
    try:
        account = get_account(engine, email)
        assert account is not None, email
        return open_session(engine, account, hours=12, client_address="test")
    finally:
        engine.dispose()


def sign_in_as(at: AppTest, database_url: str, role: str, *, email: str | None = None) -> AppTest:
    address = ensure_account(database_url, role, email=email)
    at.session_state[SESSION_KEY] = open_test_session(database_url, address)
    return at
