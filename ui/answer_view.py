"""An answer on the chat page: one function draws it, live as it streams or from the history.

Its text always goes through safe_markdown: model output may carry a document's instructions.
A question is someone's own words, shown literally (managers review other people's).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Literal, TypedDict

import streamlit as st

from rag.answer import Answer, PastExchange, abandon, known_urls, safe_markdown, stream
from rag.console import Console
from rag.retrieval import Passage
from rag.text import escape_markdown
from ui.auth import current_user
from ui.cache_note import cached_caption, curated_caption
from ui.feedback import feedback_widget
from ui.sources import render_sources


class AskedQuestion(TypedDict):
    role: Literal["user"]
    text: str


class ShownAnswer(TypedDict):
    """A finished answer as the chat history keeps it (session state, hence a plain dict)."""

    role: Literal["assistant"]
    text: str
    passages: list[Passage]
    cited: set[int]
    answered: bool
    error: str | None
    incomplete: bool
    removed_citations: set[int]
    answer_id: int  # 0: not logged, so no feedback
    cached_at: datetime | None
    curated_by: str | None  # a curated answer: who wrote it, and when
    curated_at: datetime | None
    state: str  # done, failed, interrupted; in_progress: still being answered (in another tab)
    confidence: str | None  # high; low: answered from weak evidence, marked so


ChatMessage = AskedQuestion | ShownAnswer


def asked(question: str) -> AskedQuestion:
    return {"role": "user", "text": question}


def shown_answer(answer: Answer) -> ShownAnswer:
    """A finished answer of the pipeline, for the history."""
    return {
        "role": "assistant",
        "text": answer.answer,
        "passages": answer.passages,
        "cited": answer.cited,
        "answered": answer.answered,
        "error": answer.error,
        "incomplete": answer.incomplete,
        "removed_citations": answer.removed_citations,
        "answer_id": answer.answer_id,
        "cached_at": answer.cached_at,
        "curated_by": answer.curated_by,
        "curated_at": answer.curated_at,
        "state": answer.state or "in_progress",
        "confidence": answer.confidence if answer.answered else None,
    }


def shown_exchange(exchange: PastExchange) -> ShownAnswer:
    """An answer of a reopened conversation, as it was logged."""
    return {
        "role": "assistant",
        "text": exchange.answer,
        "passages": exchange.passages,
        "cited": exchange.cited,
        "answered": exchange.answered,
        "error": exchange.error,
        "incomplete": exchange.incomplete,
        "removed_citations": exchange.removed_citations,
        "answer_id": exchange.answer_id,
        "cached_at": exchange.cached_at,
        "curated_by": exchange.curated_by,
        "curated_at": exchange.curated_at,
        "state": exchange.state,
        "confidence": exchange.confidence,
    }


def draw_question(text: str) -> None:
    st.markdown(escape_markdown(text))


def draw_answer(console: Console, answer: Answer | ShownAnswer) -> ShownAnswer:
    """Draw an answer with its notes, sources and feedback; a prepared `Answer` is streamed first.

    Returns the answer as the history keeps it.
    """
    if isinstance(answer, Answer):
        shown = _stream_text(answer)
    else:
        shown = answer
        st.markdown(_safe_text(shown))
    if shown["cached_at"]:
        st.caption(cached_caption(shown["cached_at"]))
    curated_by, curated_at = shown.get("curated_by"), shown.get("curated_at")  # histories kept from before
    if curated_by and curated_at:
        st.caption(curated_caption(curated_by, curated_at))
    if shown["removed_citations"]:
        st.caption("Citations of passages that were not retrieved were removed from this answer.")
    if shown["state"] == "interrupted":
        reason = escape_markdown(shown["error"] or "The answer was interrupted.")
        st.caption(f"{reason} Logged as unanswered; ask again for a full answer.")
    elif shown["state"] == "in_progress":
        st.caption("Still being answered (in another tab or window): reopen the conversation later.")
    elif shown["error"]:
        _failure_warning(shown["error"], incomplete=shown["incomplete"])
    elif shown["confidence"] == "low":
        st.warning(
            "Low confidence: the passages found only partly match the question. Check the sources "
            "before you rely on this answer; it is listed on the Unanswered page.",
            icon=":material/help:",
        )
    elif not shown["answered"]:
        st.caption("Logged as unanswered, so the missing documentation can be written.")
    # After a failure the passages found are the help there is: shown, not folded away.
    render_sources(
        console,
        shown["passages"],
        shown["cited"],
        answered=shown["answered"] or bool(shown["error"]),
        answer_text=shown["text"],
        key=str(shown["answer_id"]),
    )
    if shown["answer_id"]:
        feedback_widget(console, shown["answer_id"], current_user(console))
    return shown


def _stream_text(answer: Answer) -> ShownAnswer:
    """Draw the text as it arrives (each draw made safe as a whole), then as it was finished.

    A click elsewhere stops this run part-way (Streamlit raises in the next draw): the stream is
    closed at once, so the answer is logged as interrupted with what it had spent.
    """
    allowed = known_urls(p.text for p in answer.passages)
    text = ""
    try:
        placeholder = st.empty()
        with contextlib.closing(stream(answer)) as deltas:
            for delta in deltas:
                text += delta
                placeholder.markdown(safe_markdown(text, allowed))
    finally:
        abandon(answer)  # stopped before the stream began: still logged as interrupted
    shown = shown_answer(answer)
    if shown["text"] != text:  # unknown citations removed, or nothing arrived
        placeholder.markdown(_safe_text(shown))
    return shown


def _safe_text(shown: ShownAnswer) -> str:
    return safe_markdown(shown["text"] or "_(no answer)_", known_urls(p.text for p in shown["passages"]))


def _failure_warning(error: str, *, incomplete: bool) -> None:
    """Say what went wrong; a cut answer is marked incomplete, so nobody takes it as whole."""
    reason = escape_markdown(error.rstrip(". ") + ".")  # a provider's error may quote anything
    if incomplete:
        st.warning(f"This answer is incomplete: {reason} The passages found are below.")
    else:
        st.warning(f"The answer could not be completed: {reason} The passages found are below.")
