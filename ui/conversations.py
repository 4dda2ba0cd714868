"""The Ask page's sidebar: past conversations to reopen; managers can review everyone's."""

from __future__ import annotations

import uuid
from typing import TypedDict

import streamlit as st

from rag.answer import conversation_exchanges, conversation_owner, list_conversations
from rag.answer.conversations import dated_title, search_conversations
from rag.auth import MANAGER
from rag.console import Console
from rag.text import escape_markdown
from ui.answer_view import ChatMessage, asked, shown_exchange
from ui.auth import SignedIn


class ChatState(TypedDict):
    """The Ask page's session state: the conversation a follow-up continues, and what is shown."""

    conversation_id: uuid.UUID | None
    messages: list[ChatMessage]


def conversation_sidebar(console: Console, account: SignedIn, state: ChatState) -> None:
    manager = account.role == MANAGER
    with st.sidebar:
        st.markdown("**Conversations**")
        everyone = manager and st.toggle("Everyone's conversations", key="chat_everyone")
        words = st.text_input(
            "Search conversations",
            key="chat_search",
            placeholder="Search conversations",
            label_visibility="collapsed",
            icon=":material/search:",
            max_chars=200,
        ).strip()
        owner = None if everyone else account.label
        if words:
            past = search_conversations(console.engine, user=owner, words=words, limit=20)
        else:
            past = list_conversations(console.engine, user=owner, limit=20)
        if not past:
            st.caption(
                "No conversation matches." if words else "Your past conversations will be listed here."
            )
        timezone = st.context.timezone  # the browser's; None in tests and old browsers: UTC
        for c in past:
            # A title is the first question: an agent's words, in a manager's sidebar too. The date
            # tells apart conversations that began with the same question.
            title = dated_title(c, timezone)
            label = escape_markdown(f"{title} · {c.user}" if everyone else title)
            current = c.id == state["conversation_id"]
            if st.button(
                label,
                key=f"conversation-{c.id}",
                type="primary" if current else "secondary",
                width="stretch",
                help=f"{c.questions} question(s)",
            ):
                _reopen(console, account, state, c.id)
        reviewing = st.session_state.get("chat_reviewing")
        if reviewing and state["conversation_id"] is None and state["messages"]:
            st.caption(
                f"Reviewing {escape_markdown(reviewing)}'s conversation: "
                "a new question starts one of your own."
            )


def _reopen(console: Console, account: SignedIn, state: ChatState, conversation_id: uuid.UUID) -> None:
    owner = conversation_owner(console.engine, conversation_id)
    own = owner == account.label
    if not own and account.role != MANAGER:  # agents only ever reopen their own
        st.error("That conversation is not yours.")
        return
    messages: list[ChatMessage] = []
    for e in conversation_exchanges(console.engine, conversation_id):
        messages += [asked(e.question), shown_exchange(e)]
    # Follow-ups continue one's own conversation; a reviewed one stays its owner's.
    state["conversation_id"] = conversation_id if own else None
    state["messages"] = messages
    st.session_state["chat_reviewing"] = None if own else owner
    st.rerun()
