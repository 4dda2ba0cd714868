"""This browser's built-in sign-in: its session token, where the person connects from, starting and
ending the session, and keeping the cookie in step (ui/session_cookie.py).

The token lives in two places. The cookie carries it to every later page load, tab and app
process. But `st.context.cookies` only holds what the browser sent when this Streamlit session
connected, so a sign-in made during the session keeps its token in session state too, and that
one is used first. Session state holds tokens, never an email or a role: every run reads the
account again from PostgreSQL (rag/auth/sessions.py).
"""

from __future__ import annotations

import streamlit as st

from rag.auth import Account, SignInLimits, open_session, revoke_session, session_account
from rag.console import Console
from rag.settings import Settings
from ui.page_registry import HOME
from ui.session_cookie import COOKIE, delete_script, is_token, set_script, write_cookie

SESSION_KEY = "session_token"  # the token of a sign-in made on this Streamlit session
STALE_KEY = "stale_session_tokens"  # tokens known dead here: the cookie is deleted if it holds one
LOCAL = "local"  # the client address of someone on this machine (Streamlit reports none)


def _cookie_token() -> str | None:
    value = st.context.cookies.get(COOKIE)
    return value if isinstance(value, str) and is_token(value) else None


def _candidates() -> list[str]:
    own = st.session_state.get(SESSION_KEY)
    return [t for t in dict.fromkeys((own, _cookie_token())) if t]


def signed_in_account(console: Console) -> Account | None:
    """The account of the first live token of this browser (this session's own sign-in, then the
    cookie); the dead ones are forgotten, and their cookie deleted."""
    dead = st.session_state.get(STALE_KEY, [])
    for token in _candidates():
        if token in dead:  # revoked or expired for good: no need to ask again
            continue
        account = session_account(console.engine, token, hours=console.settings.session_hours)
        if account is not None:
            return account
        _forget(token)
    return None


def _forget(token: str) -> None:
    if st.session_state.get(SESSION_KEY) == token:
        del st.session_state[SESSION_KEY]
    stale: list[str] = st.session_state.setdefault(STALE_KEY, [])
    if token not in stale:
        stale.append(token)


def start_session(console: Console, account: Account) -> None:
    """After a proven sign-in (the password form, the first run): a new session for this browser."""
    settings = console.settings
    token = open_session(
        console.engine, account, hours=settings.session_hours, client_address=client_address(settings)
    )
    keep_session(token)


def keep_session(token: str) -> None:
    """This browser's session from now on (a sign-in, or the fresh one after a password change)."""
    st.session_state[SESSION_KEY] = token


def sign_out(console: Console, mode: str) -> None:
    """Ends the session everywhere: each token this browser holds is revoked in the database (the
    cookie's too, which this session cannot unset until its next run), and nothing of the person
    stays in session state. Then the root address: the next person starts from the home page."""
    tokens = _candidates() if mode == "builtin" else []
    if mode == "oidc":
        st.logout()
    for token in tokens:
        revoke_session(console.engine, token)
    stale = [*st.session_state.get(STALE_KEY, []), *tokens]
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state[STALE_KEY] = stale
    st.switch_page(HOME.file)


def keep_cookie_in_step(console: Console, signed_in: bool) -> None:
    """Renders the cookie writer where the caller draws: the live token while signed in (written
    on each page load, so the cookie's lifetime slides like the session's), else a delete of a
    dead token the browser may still hold. Nothing in OIDC or `off` mode."""
    if console.settings.auth_mode != "builtin":
        return
    stale: list[str] = st.session_state.get(STALE_KEY, [])
    live = next((t for t in _candidates() if t not in stale), None) if signed_in else None
    if live is not None:
        write_cookie(set_script(live, int(console.settings.session_hours * 3600)))
    elif stale:
        write_cookie(delete_script(stale))


def client_address(settings: Settings) -> str:
    """Who is connecting, for throttling and the session's record: the first address of
    CLIENT_ADDRESS_HEADER behind a trusted proxy, else the websocket's peer."""
    # isinstance: AppTest's stand-in runtime answers these with mocks.
    if settings.client_address_header:
        first = first_address(st.context.headers.get(settings.client_address_header))
        if first:
            return first
    peer = st.context.ip_address
    return peer if isinstance(peer, str) and peer else LOCAL


def first_address(header: object) -> str | None:
    """The client named by a forwarding header: its first address (`client, proxy1, proxy2`)."""
    first = header.split(",")[0].strip() if isinstance(header, str) else ""
    return first or None


def sign_in_limits(settings: Settings) -> SignInLimits:
    return SignInLimits(
        max_failures=settings.login_max_failures,
        lockout_s=settings.login_lockout_s,
        address_max_failures=settings.login_address_max_failures,
        address_window_s=settings.login_address_window_s,
    )
