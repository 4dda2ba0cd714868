"""The Users page's API keys: a manager makes, names, scopes and revokes the keys other tools use.

A new key is shown once (only its hash is stored), right after it is made.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from rag.auth import list_accounts
from rag.auth.api_keys import ApiKeyView, create_api_key, list_api_keys, revoke_api_key
from rag.console import Console
from rag.errors import ConsoleError
from rag.library import knowledge_base_names
from rag.text import escape_markdown
from ui.auth import role_label
from ui.tables import Column, Columns, show_table

KEY_COLUMNS: Columns = {
    "Name": "Name",
    "Starts with": "Starts with",
    "Acts as": "Acts as",
    "Role": "Role",
    "Knowledge base": "Knowledge base",
    "Made by": "Made by",
    "Made": Column("Made", "time"),
    "Last used": Column("Last used", "time"),
    "Status": "Status",
}
_NEW_KEY = "api_key_made"  # the key just made: shown on the next run, then gone


def api_keys_section(console: Console, actor: str) -> None:
    st.subheader("API keys")
    st.caption(
        "For other tools (the web widget, an OpenAI client, an IDE) to ask through the HTTP API "
        "(`python -m rag api`, see docs/api.md). A key acts as the account it belongs to, never beyond "
        "that account's role, and asks one knowledge base; its questions are logged and limited under "
        "`key:<name>`."
    )
    if made := st.session_state.pop(_NEW_KEY, None):
        name, key = made
        st.success(
            f"Key **{escape_markdown(name)}** made. "
            "Copy it now: it is not stored and will not be shown again."
        )
        st.code(key, language=None)
    keys = list_api_keys(console.engine)
    _key_table(keys)
    _new_key_form(console, actor)
    _revoke_form(console, keys, actor)


def _key_table(keys: list[ApiKeyView]) -> None:
    if not keys:
        st.caption("No API keys yet.")
        return
    table = pd.DataFrame(
        {
            "Name": [k.name for k in keys],
            "Starts with": [k.prefix + "…" for k in keys],
            "Acts as": [k.owner for k in keys],
            "Role": [role_label(k.role) for k in keys],
            "Knowledge base": [k.knowledge_base for k in keys],
            "Made by": [k.created_by for k in keys],
            "Made": [k.created_at for k in keys],
            "Last used": [k.last_used_at for k in keys],
            "Status": ["revoked" if k.revoked_at else "live" for k in keys],
        }
    )
    show_table(table, KEY_COLUMNS)


def _new_key_form(console: Console, actor: str) -> None:
    owners = [a.email for a in list_accounts(console.engine) if a.active]
    bases = knowledge_base_names(console.engine) or [console.kb.name]
    with st.form("new_api_key", clear_on_submit=True):
        st.markdown("**Make a key**")
        name_col, owner_col, kb_col = st.columns(3)
        name = name_col.text_input("Name", placeholder="e.g. Helpdesk widget")
        owner = owner_col.selectbox("Acts as", owners, help="An agent account is enough for asking.")
        kb = kb_col.selectbox(
            "Knowledge base", bases, index=bases.index(console.kb.name) if console.kb.name in bases else 0
        )
        submitted = st.form_submit_button("Make the key", icon=":material/key:")
    if submitted:
        try:
            key, view = create_api_key(
                console.engine, name=name, owner=owner or "", knowledge_base=kb or "", actor=actor
            )
        except ConsoleError as exc:
            st.error(escape_markdown(str(exc)))
            return
        st.session_state[_NEW_KEY] = (view.name, key)
        st.rerun()


def _revoke_form(console: Console, keys: list[ApiKeyView], actor: str) -> None:
    live = {k.id: k for k in keys if k.revoked_at is None}
    if not live:
        return
    with st.form("revoke_api_key"):
        st.markdown("**Revoke a key**")
        # Options are plain text.
        chosen = st.selectbox("Key", list(live), format_func=lambda i: f"{live[i].name} ({live[i].prefix}…)")
        submitted = st.form_submit_button("Revoke", icon=":material/key_off:")
    if submitted and chosen is not None:
        try:
            revoke_api_key(console.engine, chosen, actor=actor)
        except ConsoleError as exc:
            st.error(escape_markdown(str(exc)))
            return
        st.toast(f"Revoked {escape_markdown(live[chosen].name)}: it stops working at once.")
        st.rerun()
