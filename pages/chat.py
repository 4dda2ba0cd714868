"""Ask: support agents chat with the knowledge base and get cited answers."""

from __future__ import annotations

import streamlit as st

from rag.answer import prepare
from rag.errors import ConsoleError, LimitReached, QuestionRejected
from rag.library import document_count
from rag.text import escape_markdown
from ui.answer_view import asked, draw_answer, draw_question, shown_answer
from ui.auth import current_user, require_page
from ui.console import get_console
from ui.conversations import ChatState, conversation_sidebar
from ui.page_registry import DOCUMENTS, may_open

account = require_page(__file__)  # before drawing anything
console = get_console()
state: ChatState = st.session_state.setdefault("chat", {"conversation_id": None, "messages": []})
conversation_sidebar(console, account, state)

title, button = st.columns([4, 1], vertical_alignment="bottom")
title.title("Ask the knowledge base")
if button.button("New conversation", icon=":material/add_comment:", width="stretch"):
    state["conversation_id"] = None
    state["messages"] = []
    st.rerun()

if document_count(console.engine, console.kb) == 0:
    st.info(
        "The library is empty, so there is nothing to answer from yet. "
        "Upload documents or load the sample knowledge base first."
    )
    if may_open(account.role, DOCUMENTS):
        st.page_link(DOCUMENTS.file, label="Go to Documents", icon=":material/folder_open:")

for message in state["messages"]:
    with st.chat_message(message["role"]):
        if message["role"] == "user":
            draw_question(message["text"])
        else:
            draw_answer(console, message)

question = st.chat_input("Ask a question about your documents")
if question:
    with st.chat_message("user"):
        draw_question(question)
    with st.chat_message("assistant"):
        try:
            answer = prepare(
                console, question, user=current_user(console), conversation_id=state["conversation_id"]
            )
        except (QuestionRejected, LimitReached) as exc:
            st.warning(escape_markdown(str(exc)))
            st.stop()
        except ConsoleError as exc:
            st.error(f"The question could not be answered: {escape_markdown(str(exc))}")
            st.stop()
        # The conversation exists from now on: a follow-up continues it even if this answer is cut.
        state["conversation_id"] = answer.conversation_id
        try:
            draw_answer(console, answer)
        finally:  # also when a click stops the run mid-answer: the history keeps what was said
            state["messages"] += [asked(question), shown_answer(answer)]
    st.rerun()  # draw the new answer with the history, and its conversation in the sidebar
