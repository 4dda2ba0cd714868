"""An answer's text on the chat page, always passed through safe_markdown, streamed or not."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from rag.answer.safe_markdown import known_urls, safe_markdown
from rag.retrieval.passage import Passage


def show_answer(text: str, passages: list[Passage]) -> None:
    st.markdown(safe_markdown(text, known_urls(p.text for p in passages)))


def stream_answer(deltas: Iterable[str], passages: list[Passage]) -> str:
    """Draw the answer as it arrives (each draw made safe as a whole); return the raw text."""
    allowed = known_urls(p.text for p in passages)
    placeholder = st.empty()
    text = ""
    for delta in deltas:
        text += delta
        placeholder.markdown(safe_markdown(text, allowed))
    return text


def failure_warning(error: str, *, incomplete: bool) -> None:
    """Say what went wrong; a cut answer is marked incomplete, so nobody takes it as whole."""
    reason = error.rstrip(". ") + "."
    if incomplete:
        st.warning(f"This answer is incomplete: {reason} The passages found are below.")
    else:
        st.warning(f"The answer could not be completed: {reason} The passages found are below.")
