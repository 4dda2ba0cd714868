"""How an answer's sources look under it in the chat: an agent checks the answer against them.

Most relevant first (the [n] labels stay those of the answer's text). Each source shows the
sentences the answer cites from it highlighted, in their context; the whole passage and the
document are a click away; who uploaded the document, when it changed, and whether its review is
overdue are beside it. Document text is escaped before anything is highlighted.
"""

from __future__ import annotations

from datetime import date, tzinfo

import streamlit as st

from rag.answer.cited_sentences import Span, cited_spans, citing_sentences, highlighted_markdown
from rag.answer.source_documents import SourceDocument, chunk_texts, source_documents
from rag.console import Console
from rag.library.freshness import sources_past_review
from rag.retrieval import Passage
from rag.text import escape_markdown, sentence_starts
from ui.document_view import document_facts, human_date, open_document_button
from ui.tables import reader_timezone

PREVIEW_CHARS = 300  # a passage nothing was matched in: its opening, the rest a click away
CONTEXT_SENTENCES = 1  # shown either side of the cited ones


class _Sources:
    """What every source of one answer needs, read once per draw."""

    def __init__(self, console: Console, passages: list[Passage], answer_text: str, key: str) -> None:
        ids = [p.document_id for p in passages]
        self.console = console
        self.key = key
        self.documents = source_documents(console.engine, ids)
        self.overdue = sources_past_review(console.engine, ids)
        self.texts = chunk_texts(console.engine, [p.chunk_id for p in passages])
        self.citing = citing_sentences(answer_text)
        self.zone: tzinfo = reader_timezone()


def render_sources(
    console: Console,
    passages: list[Passage],
    cited: set[int],
    *,
    answered: bool,
    answer_text: str = "",
    key: str = "",
) -> None:
    """Draw an answer's sources; `key` tells this answer's buttons from another's."""
    if not passages:
        return
    ranked = sorted(passages, key=lambda p: (-p.score, p.number))
    sources = _Sources(console, ranked, answer_text, key)
    if not answered:
        with st.expander("Closest passages found (not relevant enough to answer)"):
            for p in ranked:
                _passage(sources, p)
        return
    shown = [p for p in ranked if p.number in cited] or ranked
    st.markdown("**Sources**")
    for p in shown:
        _passage(sources, p)
    others = [p for p in ranked if p not in shown]
    if others:
        with st.expander(f"{len(others)} more retrieved passages, not cited"):
            for p in others:
                _passage(sources, p)


def _passage(sources: _Sources, p: Passage) -> None:
    text = sources.texts.get(p.chunk_id, p.text)
    document = sources.documents.get(p.document_id)
    spans = cited_spans(text, sources.citing.get(p.number, []))
    st.markdown(_heading(p, sources.overdue.get(p.document_id)))
    if document is not None:
        st.caption(document_facts(document, sources.zone))
    if spans:
        st.markdown(_excerpt(text, spans))
    else:
        st.caption(escape_markdown(_preview(text)))
    _more(sources, p, document, text, spans)


def _heading(p: Passage, review_by: date | None) -> str:
    where = f" — {p.location}" if p.location else ""
    # Document text is shown as text, not as Markdown or HTML.
    heading = f"**[{p.number}] {escape_markdown(p.document)}**{escape_markdown(where)} · score {p.score:.2f}"
    if review_by is not None:
        heading += f" · :orange-badge[:material/event_busy: Review overdue since {human_date(review_by)}]"
    return heading


def _more(
    sources: _Sources, p: Passage, document: SourceDocument | None, text: str, spans: list[Span]
) -> None:
    left, right = st.columns([1, 1], vertical_alignment="center")
    with left.popover("Whole passage", icon=":material/article:"):
        st.markdown(highlighted_markdown(text, spans))
    if document is not None:
        with right:
            open_document_button(
                sources.console, p, document, spans, key=f"open-{sources.key}-{p.number}-{p.chunk_id}"
            )


def _excerpt(text: str, spans: list[Span]) -> str:
    """The cited sentences with a sentence either side, highlighted; '…' where text is left out."""
    start, end = _widen(text, spans[0].start, -1), _widen(text, spans[-1].end, +1)
    end = start + len(text[start:end].rstrip())
    inside = [Span(s.start - start, s.end - start) for s in spans]
    shown = highlighted_markdown(text[start:end], inside)
    return ("… " if start > 0 else "") + shown + (" …" if end < len(text.rstrip()) else "")


def _widen(text: str, at: int, direction: int) -> int:
    """`at` moved CONTEXT_SENTENCES sentence boundaries earlier (-1) or later (+1)."""
    starts = [*sentence_starts(text), len(text)]
    if direction < 0:
        before = [s for s in starts if s <= at]
        return before[max(0, len(before) - 1 - CONTEXT_SENTENCES)] if before else 0
    after = [s for s in starts if s > at]
    return after[min(len(after) - 1, CONTEXT_SENTENCES)] if after else len(text)


def _preview(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"
