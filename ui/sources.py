"""How an answer's sources look under it in the chat."""

from __future__ import annotations

import streamlit as st

from rag.retrieval import Passage
from rag.text import escape_markdown


def render_sources(passages: list[Passage], cited: set[int], *, answered: bool) -> None:
    if not passages:
        return
    if not answered:
        with st.expander("Closest passages found (not relevant enough to answer)"):
            for p in passages:
                _passage(p)
        return
    shown = [p for p in passages if p.number in cited] or passages
    st.markdown("**Sources**")
    for p in shown:
        _passage(p)
    others = [p for p in passages if p not in shown]
    if others:
        with st.expander(f"{len(others)} more retrieved passages, not cited"):
            for p in others:
                _passage(p)


def _passage(p: Passage) -> None:
    where = f" — {p.location}" if p.location else ""
    # Document text is shown as text, not as Markdown or HTML.
    st.markdown(
        f"**[{p.number}] {escape_markdown(p.document)}**{escape_markdown(where)} · score {p.score:.2f}"
    )
    snippet = p.text if len(p.text) <= 500 else p.text[:500].rsplit(" ", 1)[0] + " …"
    st.caption(escape_markdown(snippet))
