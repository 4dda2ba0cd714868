"""Ask: support agents chat with the knowledge base and get cited answers."""

from __future__ import annotations

import streamlit as st

from rag.answer.pipeline import ask
from rag.auth.roles import PAGE_ROLES, may_open
from rag.errors import ConsoleError, LimitReached, QuestionRejected
from rag.library.documents import document_count
from ui.answer_view import failure_warning, show_answer, stream_answer
from ui.auth import require_role
from ui.cache_note import cached_caption
from ui.console import current_user, get_console
from ui.conversations import conversation_sidebar
from ui.feedback import feedback_widget
from ui.sources import render_sources

account = require_role(*PAGE_ROLES["pages/chat.py"])  # before drawing anything
console = get_console()
state = st.session_state.setdefault("chat", {"conversation_id": None, "messages": []})
conversation_sidebar(console, account, state)

title, button = st.columns([4, 1], vertical_alignment="bottom")
title.title("Ask the knowledge base")
if button.button("New conversation", icon=":material/add_comment:", width="stretch"):
    state.update(conversation_id=None, messages=[])
    st.rerun()

if document_count(console.engine, console.kb) == 0:
    st.info(
        "The library is empty, so there is nothing to answer from yet. "
        "Upload documents or load the sample knowledge base first."
    )
    if may_open(account.role, "pages/documents.py"):
        st.page_link("pages/documents.py", label="Go to Documents", icon=":material/folder_open:")

for message in state["messages"]:
    with st.chat_message(message["role"]):
        show_answer(message["text"], message.get("passages", []))
        if message["role"] == "assistant":
            if message.get("cached_at"):
                st.caption(cached_caption(message["cached_at"]))
            if message.get("error"):
                failure_warning(message["error"], incomplete=bool(message.get("incomplete")))
            elif not message["answered"]:
                st.caption("Logged as unanswered, so the missing documentation can be written.")
            # After a failure the passages found are the help there is: shown, not folded away.
            shown = message["answered"] or bool(message.get("error"))
            render_sources(message["passages"], message["cited"], answered=shown)
            if message.get("answer_id"):
                feedback_widget(console, message["answer_id"], current_user(console))

question = st.chat_input("Ask a question about your documents")
if question:
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        try:
            stream = ask(
                console, question, user=current_user(console), conversation_id=state["conversation_id"]
            )
        except (QuestionRejected, LimitReached) as exc:
            st.warning(str(exc))
            st.stop()
        except ConsoleError as exc:
            st.error(f"The question could not be answered: {exc}")
            st.stop()
        streamed = stream_answer(stream, stream.passages)
        result = stream.result
        assert result is not None  # the stream is exhausted
        if result.cached_at:
            st.caption(cached_caption(result.cached_at))
        if isinstance(streamed, str) and streamed.strip() != result.answer:
            st.caption("Citations of passages that were not retrieved were removed from this answer.")
        if result.error:
            failure_warning(result.error, incomplete=result.incomplete)
        if not result.answered:
            st.caption("Logged as unanswered, so the missing documentation can be written.")
        render_sources(result.passages, result.cited, answered=result.answered or bool(result.error))
    state["conversation_id"] = result.conversation_id
    state["messages"] += [
        {"role": "user", "text": question},
        {
            "role": "assistant",
            "text": result.answer or "_(no answer)_",
            "passages": result.passages,
            "cited": result.cited,
            "answered": result.answered,
            "error": result.error,
            "incomplete": result.incomplete,
            "answer_id": result.answer_id,
            "cached_at": result.cached_at,
        },
    ]
    st.rerun()  # draw the new answer with the history, where its feedback buttons live
