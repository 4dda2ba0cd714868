"""Knowledge Console: the router. Signs people in, builds the navigation from their role, runs the page."""

import streamlit as st

from rag.auth.roles import PAGE_ROLES
from rag.console import database_label
from ui.auth import current_account, role_label, sign_in_view, sign_out
from ui.console import get_console

st.set_page_config(page_title="Knowledge Console", page_icon=":material/menu_book:", layout="wide")

console = get_console()
account = current_account(console)
if account is None:
    # Only the sign-in page exists for someone signed out: no other page can be navigated to.
    st.navigation([st.Page(lambda: sign_in_view(console), title="Sign in", icon=":material/login:")]).run()
    st.stop()

SECTIONS = {
    "Support": [("pages/chat.py", "Ask", ":material/chat:")],
    "Knowledge": [
        ("pages/documents.py", "Documents", ":material/folder_open:"),
        ("pages/evaluation.py", "Evaluate", ":material/fact_check:"),
    ],
    "Analytics": [
        ("pages/analytics_overview.py", "Overview", ":material/insights:"),
        ("pages/analytics_cost.py", "Cost", ":material/payments:"),
        ("pages/analytics_latency.py", "Latency", ":material/speed:"),
        ("pages/analytics_unanswered.py", "Unanswered", ":material/help:"),
    ],
    "Administration": [
        ("pages/users.py", "Users", ":material/group:"),
        ("pages/audit.py", "Audit log", ":material/history:"),
    ],
}
pages = {
    section: [
        st.Page(path, title=title, icon=icon, default=path == "pages/chat.py")
        for path, title, icon in entries
        if account.role in PAGE_ROLES[path]
    ]
    for section, entries in SECTIONS.items()
}
navigation = st.navigation({section: entries for section, entries in pages.items() if entries})

with st.sidebar:
    settings = console.settings
    answers = "offline (quotes the documents)" if settings.answer_mode == "offline" else settings.chat_model
    st.caption(
        f"**Answers:** {answers}  \n"
        f"**Embeddings:** {console.embedder.model} ({console.embedder.provider})  \n"
        f"**Knowledge base:** {console.kb.name}  \n"
        f"**Database:** {database_label(console)}"
    )
    if account.mode == "off":
        st.caption("**Sign-in is off** (`AUTH_MODE=off`)")
    else:
        st.caption(f"**Signed in:** {account.email} ({role_label(account.role)})")
        if st.button("Sign out", key="sign_out", icon=":material/logout:"):
            sign_out(account)

navigation.run()
