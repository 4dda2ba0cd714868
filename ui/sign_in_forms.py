"""The forms of signing in: the password form, the first-run form, the identity provider's button,
and changing one's own password (chosen freely, or forced after a temporary one)."""

from __future__ import annotations

import streamlit as st

from rag.auth import (
    announce_setup_code,
    change_own_password,
    create_first_manager,
    get_account,
    oidc_refusal,
    sign_in,
    user_count,
)
from rag.console import Console
from rag.errors import ConsoleError
from ui.browser_session import client_address, keep_session, sign_in_limits, sign_out, start_session

PASSWORD_NOTICE_KEY = "password_notice"  # shown once after the rerun that follows a change
THROTTLE_NOTE = "After several failed attempts, signing in pauses for a few minutes."


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
    st.caption(THROTTLE_NOTE)  # the same for everyone: it tells no one that an account is locked
    if submitted:
        settings = console.settings
        try:
            account = sign_in(
                console.engine,
                email,
                password,
                limits=sign_in_limits(settings),
                client_address=client_address(settings),
            )
        except ConsoleError as exc:
            st.error(str(exc))
            return
        start_session(console, account)
        st.rerun()


def _first_run_form(console: Console) -> None:
    announce_setup_code(console.engine)
    st.subheader("Create the first manager account")
    st.write(
        "There are no accounts yet. The account created here is a manager: it can add the other "
        "people and give them their roles (or run `python -m rag users add EMAIL --role manager`)."
    )
    st.write(
        "To show that you run this server, enter the **setup code** printed in its log (the terminal "
        "running `scripts/run.sh`). Lost it? `python -m rag setup-code` on the server prints a new one."
    )
    with st.form("first_run"):
        setup_code = st.text_input("Setup code", placeholder="XXXX-XXXX-XXXX")
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
            settings = console.settings
            account = create_first_manager(
                console.engine,
                email,
                password,
                setup_code=setup_code,
                limits=sign_in_limits(settings),
                client_address=client_address(settings),
                name=name,
            )
        except ConsoleError as exc:
            st.error(str(exc))
            return
        start_session(console, account)
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
    refusal = oidc_refusal(st.user, require_verified_email=console.settings.oidc_require_verified_email)
    if refusal is not None:
        st.error(refusal, icon=":material/block:")
    elif account is not None and not account.active:
        st.error(f"The account {email} is deactivated: ask a manager.")
    else:
        st.warning(
            f"You are signed in as {email or 'an account without an email'}, but you have no role in the "
            "console yet: ask a manager to add you."
        )
    if user_count(console.engine) == 0:
        st.caption("No one has a role yet: run `python -m rag users add EMAIL --role manager` on the server.")
    if st.button("Sign out", icon=":material/logout:"):
        sign_out(console, "oidc")


def new_password_view(console: Console, email: str) -> None:
    """All a person with a temporary password sees, on every page, until they choose their own."""
    st.title("Choose a new password")
    st.text(f"Signed in as {email}")
    st.write(
        "Your password was set by a manager. Choose your own before you go on: it also signs you "
        "out of every other tab and device."
    )
    password_form(console, email, current_label="Temporary password", button="Set my password", notice=None)
    if st.button("Sign out", icon=":material/logout:"):
        sign_out(console, "builtin")


def password_form(
    console: Console, email: str, *, current_label: str, button: str, notice: str | None
) -> None:
    """Current password, new one twice; on success this browser gets a fresh session, every other
    session of the account ends, and `notice` is shown after the rerun."""
    if shown := st.session_state.pop(PASSWORD_NOTICE_KEY, None):
        st.success(shown, icon=":material/check_circle:")
    with st.form("own_password", clear_on_submit=True):
        current = st.text_input(current_label, type="password")
        new = st.text_input("New password (at least 10 characters)", type="password")
        repeat = st.text_input("New password again", type="password")
        submitted = st.form_submit_button(button, type="primary", icon=":material/key:")
    if not submitted:
        return
    if new != repeat:
        st.error("The two new passwords differ.")
        return
    settings = console.settings
    try:
        token = change_own_password(
            console.engine,
            email,
            current,
            new,
            limits=sign_in_limits(settings),
            client_address=client_address(settings),
            session_hours=settings.session_hours,
        )
    except ConsoleError as exc:
        st.error(str(exc))
        return
    keep_session(token)
    if notice:
        st.session_state[PASSWORD_NOTICE_KEY] = notice
    st.rerun()
