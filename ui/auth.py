"""Who is using this session: sign-in (built-in accounts or OIDC), the first-run form, role checks.

Every page calls `require_page(__file__)` before drawing anything: Streamlit can serve a file of the
`pages/` folder by its URL before the router (app.py) has run in a fresh process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from rag.auth import MANAGER, ROLE_LABELS, ROLES, create_first_manager, get_account, sign_in, user_count
from rag.console import Console
from rag.errors import ConsoleError
from ui.console import get_console
from ui.page_registry import HOME, may_open, page_for

SESSION_KEY = "signed_in_email"  # built-in accounts: the email that signed in on this session
ROUTED_KEY = "routed"  # app.py has run on this session
DENIED = "Your role does not give access to this page."  # the page's own check
NOT_IN_YOUR_MENU = "This page is not in your menu: your role does not include it."  # the router's


@dataclass(frozen=True)
class SignedIn:
    email: str
    name: str
    role: str
    mode: str  # builtin, oidc or off

    @property
    def label(self) -> str:
        """Recorded as the author of answers, uploads, deletions and administrative actions."""
        return self.email


def current_account(console: Console) -> SignedIn | None:
    """The person on this session, read again on every run: deactivation and role changes apply at once."""
    settings = console.settings
    if settings.auth_mode == "off":
        return SignedIn(settings.default_user, "", MANAGER, "off")
    if settings.auth_mode == "oidc":
        return _oidc_account(console)
    email = st.session_state.get(SESSION_KEY)
    if not email:
        return None
    account = get_account(console.engine, email)
    if account is None or not account.active:
        st.session_state.pop(SESSION_KEY, None)
        return None
    return SignedIn(account.email, account.name, account.role, "builtin")


def current_user(console: Console) -> str:
    """Who this session acts as: the signed-in person, recorded on answers, uploads and deletions."""
    account = current_account(console)
    return account.label if account is not None else console.settings.default_user


def _oidc_account(console: Console) -> SignedIn | None:
    if not st.user.is_logged_in:
        return None
    email = str(st.user.get("email") or "").strip().lower()
    account = get_account(console.engine, email) if email else None
    if account is not None and not account.active:
        return None
    claim = console.settings.oidc_role_claim
    role = _role_from_claim(st.user.get(claim)) if claim else None
    if role is None and account is not None:
        role = account.role
    if role is None or not email:
        return None
    return SignedIn(email, str(st.user.get("name") or ""), role, "oidc")


def _role_from_claim(value: object) -> str | None:
    """A claim may hold one role or a list of groups; the highest console role among them wins."""
    values: Iterable[object] = value if isinstance(value, list | tuple) else [value]
    found = {str(v) for v in values}
    return next((role for role in reversed(ROLES) if role in found), None)


def require_page(file: str) -> SignedIn:
    """The signed-in person if their role may open the page `file` (the page's own `__file__`);
    otherwise a sign-in or refusal, and a stop."""
    page = page_for(file)
    console = get_console()
    account = current_account(console)
    if account is None:
        sign_in_view(console)
        st.stop()
    if not st.session_state.get(ROUTED_KEY):
        _to_the_router()
    if account.mode == "off":
        st.markdown(
            ":orange-badge[:material/lock_open: Sign-in is off (`AUTH_MODE=off`): anyone who opens this "
            "console is a manager. For a single-person trial only.]"
        )
    if not may_open(account.role, page):
        st.error(DENIED, icon=":material/block:")
        st.stop()
    return account


def mark_routed() -> None:
    """Called by app.py: this session runs its pages through the router."""
    st.session_state[ROUTED_KEY] = True


def _to_the_router() -> None:
    """A page served straight from `pages/` (a deep link to a fresh process): go through app.py,
    so the session gets the navigation built for its role. The page's own check still stands."""
    with contextlib.suppress(StreamlitPageNotFoundError):  # a page file run alone (AppTest): no router
        st.switch_page("app.py")


def sign_in_view(console: Console) -> None:
    """The sign-in page: the first-run form, the password form, or the identity provider's button."""
    st.title("Knowledge Console")
    if console.settings.auth_mode == "oidc":
        _oidc_view(console)
    elif user_count(console.engine) == 0:
        _first_run_form(console)
    else:
        _password_form(console)


def _password_form(console: Console) -> None:
    st.subheader("Sign in")
    with st.form("sign_in"):
        email = st.text_input("Email")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if submitted:
        settings = console.settings
        try:
            account = sign_in(
                console.engine,
                email,
                password,
                max_failures=settings.login_max_failures,
                lockout_s=settings.login_lockout_s,
            )
        except ConsoleError as exc:
            st.error(str(exc))
            return
        st.session_state[SESSION_KEY] = account.email
        st.rerun()


def _first_run_form(console: Console) -> None:
    st.subheader("Create the first manager account")
    st.write(
        "There are no accounts yet. The account created here is a manager: it can add the other "
        "people and give them their roles (or run `python -m rag users add EMAIL --role manager`)."
    )
    with st.form("first_run"):
        email = st.text_input("Email")
        name = st.text_input("Name (optional)")
        password = st.text_input("Password (at least 10 characters)", type="password")
        repeat = st.text_input("Password again", type="password")
        submitted = st.form_submit_button("Create the account", type="primary")
    if submitted:
        if password != repeat:
            st.error("The two passwords differ.")
            return
        try:
            account = create_first_manager(console.engine, email, password, name=name)
        except ConsoleError as exc:
            st.error(str(exc))
            return
        st.session_state[SESSION_KEY] = account.email
        st.rerun()


def _oidc_view(console: Console) -> None:
    if not st.user.is_logged_in:
        st.subheader("Sign in")
        st.write("Sign in with your company account.")
        if st.button("Sign in", type="primary", icon=":material/login:"):
            st.login()
        return
    email = str(st.user.get("email") or "")
    account = get_account(console.engine, email) if email else None
    if account is not None and not account.active:
        st.error(f"The account {email} is deactivated: ask a manager.")
    else:
        st.warning(
            f"You are signed in as {email or 'an account without an email'}, but you have no role in the "
            "console yet: ask a manager to add you."
        )
    if user_count(console.engine) == 0:
        st.caption("No one has a role yet: run `python -m rag users add EMAIL --role manager` on the server.")
    if st.button("Sign out", icon=":material/logout:"):
        st.logout()


def sign_out(account: SignedIn) -> None:
    if account.mode == "oidc":
        st.logout()
    for key in list(st.session_state.keys()):  # nothing of this person stays on the session
        del st.session_state[key]
    st.switch_page(HOME.file)  # the root address: the next person starts from the home page


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)
