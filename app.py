"""Knowledge Console: the router. Opens the shared console, draws the sidebar, runs the page."""

import streamlit as st

from rag.console import database_label
from ui.console import get_console

st.set_page_config(page_title="Knowledge Console", page_icon=":material/menu_book:", layout="wide")

console = get_console()
pages = {
    "Support": [st.Page("pages/chat.py", title="Ask", icon=":material/chat:", default=True)],
    "Knowledge": [
        st.Page("pages/documents.py", title="Documents", icon=":material/folder_open:"),
        st.Page("pages/evaluation.py", title="Evaluate", icon=":material/fact_check:"),
    ],
    "Analytics": [
        st.Page("pages/analytics_overview.py", title="Overview", icon=":material/insights:"),
        st.Page("pages/analytics_cost.py", title="Cost", icon=":material/payments:"),
        st.Page("pages/analytics_latency.py", title="Latency", icon=":material/speed:"),
        st.Page("pages/analytics_unanswered.py", title="Unanswered", icon=":material/help:"),
    ],
}
navigation = st.navigation(pages)

with st.sidebar:
    settings = console.settings
    answers = "offline (quotes the documents)" if settings.answer_mode == "offline" else settings.chat_model
    st.caption(
        f"**Answers:** {answers}  \n"
        f"**Embeddings:** {console.embedder.model} ({console.embedder.provider})  \n"
        f"**Knowledge base:** {console.kb.name}  \n"
        f"**Database:** {database_label(console)}"
    )

navigation.run()
