"""Users: managers add people, give them roles, reset passwords and deactivate accounts."""

from __future__ import annotations

import secrets

import pandas as pd
import streamlit as st

from rag.auth import ROLES, add_user, change_role, list_accounts, set_active, set_password
from rag.text import escape_markdown
from ui.api_keys import api_keys_section
from ui.auth import require_page, role_label
from ui.console import get_console
from ui.refusals import refusal_shown
from ui.tables import Column, Columns, show_table

PEOPLE_COLUMNS: Columns = {
    "Email": "Email",
    "Name": "Name",
    "Role": "Role",
    "Active": Column("Active", "flag"),
    "Last sign-in": Column("Last sign-in", "time"),
    "Added by": "Added by",
    "Added": Column("Added", "time"),
}

account = require_page(__file__)  # before drawing anything
console = get_console()
builtin = console.settings.auth_mode == "builtin"
st.title("Users")


def _temporary_password() -> str:
    return secrets.token_urlsafe(12)


def _done(message: str) -> None:
    """Markdown shown on the next run: whatever it quotes, escape_markdown it."""
    st.session_state["users_notice"] = message
    st.rerun()


if notice := st.session_state.pop("users_notice", None):
    st.success(notice, icon=":material/check_circle:")

with st.form("add_user", clear_on_submit=True):
    st.markdown("**Add a person**")
    email_col, role_col = st.columns([3, 2])
    email = email_col.text_input("Email")
    role = role_col.selectbox("Role", ROLES, format_func=role_label)
    name = st.text_input("Name (optional)")
    if builtin:
        st.caption(
            "A temporary password is made for them and shown once here: pass it on privately. "
            "They choose their own at their first sign-in."
        )
    else:
        st.caption("They sign in with their company account; the email must match it.")
    submitted = st.form_submit_button("Add", type="primary", icon=":material/person_add:")
if submitted:
    password = _temporary_password() if builtin else None
    with refusal_shown():
        added = add_user(
            console.engine, email, role, actor=account.label, password=password, name=name, temporary=True
        )
        _done(
            f"Added {escape_markdown(added.email)} as {role_label(added.role)}."
            + (f" Temporary password: `{password}`" if password else "")
        )

accounts = list_accounts(console.engine)
st.subheader(f"People ({len(accounts)})")
people = pd.DataFrame(
    {
        "Email": [a.email for a in accounts],
        "Name": [a.name for a in accounts],
        "Role": [role_label(a.role) for a in accounts],
        "Active": [a.active for a in accounts],
        "Last sign-in": [a.last_login_at for a in accounts],
        "Added by": [a.created_by for a in accounts],
        "Added": [a.created_at for a in accounts],
    }
)
show_table(people, PEOPLE_COLUMNS)

if accounts:
    st.subheader("Change an account")
    emails = [a.email for a in accounts]
    chosen = st.selectbox("Account", emails)  # options are plain text
    person = next(a for a in accounts if a.email == chosen)
    shown_email = escape_markdown(person.email)
    role_col, active_col, password_col = st.columns(3)
    with role_col:
        new_role = st.selectbox("New role", ROLES, index=ROLES.index(person.role), format_func=role_label)
        if st.button("Change role", disabled=new_role == person.role):
            with refusal_shown():
                change_role(console.engine, person.email, new_role, actor=account.label)
                _done(f"{shown_email} is now {role_label(new_role)}.")
    with active_col:
        label = "Deactivate" if person.active else "Reactivate"
        if st.button(label, icon=":material/person_off:" if person.active else ":material/person:"):
            with refusal_shown():
                set_active(console.engine, person.email, not person.active, actor=account.label)
                _done(f"{shown_email} is {'deactivated' if person.active else 'active again'}.")
    with password_col:
        # A reset signs the account out at once: one's own would vanish with the session.
        own = person.email == account.email
        help_text = "Change your own password on My account." if own else None
        if builtin and st.button("Reset password", icon=":material/key:", disabled=own, help=help_text):
            password = _temporary_password()
            set_password(console.engine, person.email, password, actor=account.label, temporary=True)
            _done(
                f"New temporary password for {shown_email}: `{password}` (they are signed out everywhere "
                "and choose their own at their next sign-in)"
            )

st.divider()
api_keys_section(console, account.label)
