"""Who is using this session: the signed-in person (built-in accounts, OIDC, or sign-in off) and the
role check every page makes.

Every page calls `require_page(__file__)` before drawing anything: Streamlit can serve a file of the
`pages/` folder by its URL before the router (app.py) has run in a fresh process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from rag.auth import MANAGER, ROLE_LABELS, ROLES, get_account, oidc_refusal
from rag.console import Console
from ui import browser_session
from ui.browser_session import SESSION_KEY, signed_in_account
from ui.console import get_console
from ui.page_registry import HOME, may_open, page_for
from ui.sign_in_forms import new_password_view, sign_in_view

__all__ = [
    "DENIED",
    "NOT_IN_YOUR_MENU",
    "ROUTED_KEY",
    "SESSION_KEY",
    "SignedIn",
    "current_account",
    "current_user",
    "mark_routed",
    "refuse",
    "require_page",
    "role_label",
    "sign_in_view",
    "sign_out",
]

ROUTED_KEY = "routed"  # app.py has run on this session
DENIED = "Your role does not give access to this page."  # the page's own check
NOT_IN_YOUR_MENU = "This page is not in your menu: your role does not include it."  # the router's


@dataclass(frozen=True)
class SignedIn:
    email: str
    name: str
    role: str
    mode: str  # builtin, oidc or off
    must_change_password: bool = False  # built-in only: a temporary password, to be changed first

    @property
    def label(self) -> str:
        """Recorded as the author of answers, uploads, deletions and administrative actions."""
        return self.email


def current_account(console: Console) -> SignedIn | None:
    """The person on this session, read again on every run: deactivation, role changes and revoked
    sessions apply at once."""
    settings = console.settings
    if settings.auth_mode == "off":
        return SignedIn(settings.default_user, "", MANAGER, "off")
    if settings.auth_mode == "oidc":
        return _oidc_account(console)
    account = signed_in_account(console)
    if account is None:
        return None
    return SignedIn(account.email, account.name, account.role, "builtin", account.must_change_password)


def current_user(console: Console) -> str:
    """Who this session acts as: the signed-in person, recorded on answers, uploads and deletions."""
    account = current_account(console)
    return account.label if account is not None else console.settings.default_user


def _oidc_account(console: Console) -> SignedIn | None:
    if not st.user.is_logged_in or oidc_refusal(
        st.user, require_verified_email=console.settings.oidc_require_verified_email
    ):
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
    otherwise a sign-in, a new-password form or a refusal, and a stop."""
    page = page_for(file)
    if not st.session_state.get(ROUTED_KEY):
        _to_the_router()  # first, before the console is waited for: the router says "Starting"
    console = get_console()
    account = current_account(console)
    if account is None:
        sign_in_view(console)
        st.stop()
    if account.must_change_password:
        new_password_view(console, account.email)
        st.stop()
    if account.mode == "off":
        st.markdown(
            ":orange-badge[:material/lock_open: Sign-in is off (`AUTH_MODE=off`): anyone who opens this "
            "console is a manager. For a single-person trial only.]"
        )
    if not may_open(account.role, page):
        refuse(DENIED)
    return account


def refuse(message: str) -> NoReturn:
    """A refused page: why, a way back to Ask, and a stop."""
    st.error(message, icon=":material/block:")
    # A page file run alone (AppTest) has no other page to link to.
    with contextlib.suppress(StreamlitPageNotFoundError):
        st.page_link(HOME.file, label=f"Back to {HOME.title}", icon=HOME.icon)
    st.stop()


def mark_routed() -> None:
    """Called by app.py: this session runs its pages through the router."""
    st.session_state[ROUTED_KEY] = True


def _to_the_router() -> None:
    """A page served straight from `pages/` (a deep link to a fresh process): go through app.py,
    so the session gets the navigation built for its role. The page's own check still stands."""
    with contextlib.suppress(StreamlitPageNotFoundError):  # a page file run alone (AppTest): no router
        st.switch_page("app.py")


def sign_out(account: SignedIn) -> None:
    browser_session.sign_out(get_console(), account.mode)


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)
