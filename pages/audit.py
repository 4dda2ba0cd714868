"""Audit log: who added people, changed roles, deactivated accounts or deleted documents, and when."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from rag.auth import audit_entries
from ui.auth import require_page
from ui.console import get_console
from ui.tables import Column, Columns, show_table

ACTIONS = {
    "user_added": "Person added",
    "role_changed": "Role changed",
    "user_deactivated": "Deactivated",
    "user_reactivated": "Reactivated",
    "password_set": "Password set",
    "password_changed": "Own password changed",
    "api_key_created": "API key made",
    "api_key_revoked": "API key revoked",
    "document_deleted": "Document deleted",
}

COLUMNS: Columns = {
    "When": Column("When", "time"),
    "Who": "Who",
    "Action": "Action",
    "On": "On",
    "Details": Column("Details", width="large"),
}


def _details(detail: dict[str, object]) -> str:
    """Each detail as "key: value", yes/no for flags; a missing value is left out."""
    return ", ".join(
        f"{key.replace('_', ' ')}: {_value(value)}" for key, value in detail.items() if value is not None
    )


def _value(value: object) -> object:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


account = require_page(__file__)  # before drawing anything
console = get_console()
st.title("Audit log")
st.caption("Administrative actions, newest first. Answers and uploads carry their author in their own logs.")
action = st.selectbox("Action", [None, *ACTIONS], format_func=lambda a: "All" if a is None else ACTIONS[a])
entries = audit_entries(console.engine, action=action)
if not entries:
    st.info("Nothing has been recorded yet.")
    st.stop()
table = pd.DataFrame(
    {
        "When": [e.created_at for e in entries],
        "Who": [e.actor for e in entries],
        "Action": [ACTIONS.get(e.action, e.action.replace("_", " ").capitalize()) for e in entries],
        "On": [e.target for e in entries],
        "Details": [_details(e.detail) for e in entries],
    }
)
show_table(table, COLUMNS, download="audit-log")
