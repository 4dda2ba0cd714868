"""Knowledge Console: the router. Signs people in, builds the navigation from their role, runs the page."""

from pathlib import Path

import streamlit as st

from ui.console import console_details, console_is_open, get_console, start_console

st.set_page_config(page_title="Knowledge Console", page_icon=":material/menu_book:", layout="wide")


def _starting_view() -> None:
    st.title("Knowledge Console")
    # No imports here while the console's thread imports: two threads importing the same modules
    # can deadlock on Python's import locks.
    get_console()  # "Starting the console…" until the opening thread is done; why, if it failed
    st.rerun()  # open: the same address again, now through the whole router


# Until this script calls st.navigation once, a fresh process shows the `pages/` folder's file names
# as a menu, so it is called before anything slow (the imports below take seconds on a busy machine,
# and the console opens in a background thread). Every page file is registered, hidden, so that a
# deep link keeps its address while it waits.
start_console()
if not console_is_open():
    starting = st.Page(_starting_view, title="Starting", icon=":material/hourglass_top:", default=True)
    waiting = [
        st.Page(f, visibility="hidden") for f in sorted((Path(__file__).parent / "pages").glob("[!_]*.py"))
    ]
    st.navigation([starting, *waiting], position="hidden")
    _starting_view()

from streamlit.navigation.page import StreamlitPage  # noqa: E402

from rag.auth import MANAGER  # noqa: E402
from rag.text import escape_markdown  # noqa: E402
from ui.auth import (  # noqa: E402
    NOT_IN_YOUR_MENU,
    current_account,
    mark_routed,
    refuse,
    role_label,
    sign_out,
)
from ui.browser_session import keep_cookie_in_step  # noqa: E402
from ui.page_registry import HOME, PAGES, PageEntry, may_open  # noqa: E402
from ui.sign_in_forms import new_password_view, sign_in_view  # noqa: E402

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
# .streamlit/config.toml hides the menu Streamlit makes of the `pages/` folder's file names, which a
# fresh process shows until st.navigation has run once (while a deep-linked page file imports, say);
# the router's own menu is shown.
st.set_option("client.showSidebarNavigation", True)
navigation = st.navigation(pages)

with st.sidebar:
    # What runs the console is a manager's business; everyone sees who they are signed in as.
    if account.role == MANAGER:
        st.caption(console_details(console))
    if account.mode == "off":
        st.caption("**Sign-in is off** (`AUTH_MODE=off`)")
    else:
        st.caption(f"**Signed in:** {escape_markdown(account.email)} ({role_label(account.role)})")
        if st.button("Sign out", key="sign_out", icon=":material/logout:"):
            sign_out(account)

if not may_open(account.role, entries[navigation.url_path]):
    refuse(NOT_IN_YOUR_MENU)
navigation.run()
