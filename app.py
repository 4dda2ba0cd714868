"""Knowledge Console: the router. Signs people in, builds the navigation from their role, runs the page."""

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from rag.console import database_label
from rag.text import escape_markdown
from ui.auth import NOT_IN_YOUR_MENU, current_account, mark_routed, role_label, sign_out
from ui.browser_session import keep_cookie_in_step
from ui.console import get_console
from ui.page_registry import HOME, PAGES, PageEntry, may_open
from ui.sign_in_forms import new_password_view, sign_in_view

st.set_page_config(page_title="Knowledge Console", page_icon=":material/menu_book:", layout="wide")

console = get_console()
mark_routed()
account = current_account(console)
# The browser's cookie follows this session: first in the main area, so that it keeps its place
# (and its script is not run again) from run to run and page to page, signed in or not.
keep_cookie_in_step(console, signed_in=account is not None)
# Signed out, or held at the new-password form: one page of its own, and no menu.
gated = account is None or account.must_change_password

# Every page is registered, so any address resolves (a bookmark, a reload); the menu shows only
# the role's pages, and the router runs no other. Each page checks the role again itself, and
# shows the sign-in form to someone signed out.
role = account.role if account else None
pages: dict[str, list[StreamlitPage]] = {}
entries: dict[str, PageEntry] = {}  # url path -> registry entry
for entry in PAGES:
    page = st.Page(
        entry.file,
        title=entry.title,
        icon=entry.icon,
        default=not gated and entry is HOME,
        visibility="visible" if may_open(role, entry) else "hidden",
    )
    pages.setdefault(entry.section, []).append(page)
    entries[page.url_path] = entry
if account is None:
    sign_in = st.Page(
        lambda: sign_in_view(console),
        title="Sign in",
        icon=":material/login:",
        url_path="sign-in",
        default=True,
    )
    st.navigation({"": [sign_in], **pages}, position="hidden").run()
    st.stop()
if account.must_change_password:
    email = account.email
    new_password = st.Page(
        lambda: new_password_view(console, email),
        title="Choose a new password",
        icon=":material/key:",
        url_path="new-password",
        default=True,
    )
    st.navigation({"": [new_password], **pages}, position="hidden").run()
    st.stop()
navigation = st.navigation(pages)

with st.sidebar:
    settings = console.settings
    answers = "offline (quotes the documents)" if settings.answer_mode == "offline" else settings.chat_model
    st.caption(
        f"**Answers:** {answers}  \n"
        f"**Embeddings:** {console.embedder.model} ({console.embedder.provider})  \n"
        f"**Knowledge base:** {escape_markdown(console.kb.name)}  \n"
        f"**Database:** {database_label(console)}"
    )
    if account.mode == "off":
        st.caption("**Sign-in is off** (`AUTH_MODE=off`)")
    else:
        st.caption(f"**Signed in:** {escape_markdown(account.email)} ({role_label(account.role)})")
        if st.button("Sign out", key="sign_out", icon=":material/logout:"):
            sign_out(account)

if not may_open(account.role, entries[navigation.url_path]):
    st.error(NOT_IN_YOUR_MENU, icon=":material/block:")
    st.stop()
navigation.run()
