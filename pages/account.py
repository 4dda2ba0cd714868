"""My account: who is signed in and with which role; built-in accounts change their own password."""

from __future__ import annotations

import streamlit as st

from ui.auth import require_page, role_label
from ui.console import get_console
from ui.sign_in_forms import password_form
from ui.tables import reader_timezone

account = require_page(__file__)  # before drawing anything
console = get_console()
st.title("My account")

# Plain text: a name is whatever a manager typed, never Markdown to render.
for label, value in (
    ("Email", account.email),
    ("Name", account.name),
    ("Role", role_label(account.role)),
    ("Time zone of dates and times", str(reader_timezone())),
):
    if value:  # no name: no row, rather than a placeholder
        st.caption(label)
        st.text(value)

st.subheader("Password")
if account.mode == "builtin":
    password_form(
        console,
        account.email,
        current_label="Current password",
        button="Change password",
        notice="Password changed. Your other tabs and devices are signed out.",
    )
elif account.mode == "oidc":
    st.write("You sign in with your company account: change its password with your identity provider.")
else:
    st.write("Sign-in is off (`AUTH_MODE=off`): there is no password to change.")
