"""Unanswered questions: what the knowledge base could not answer, grouped, until someone documents it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from rag.analytics.unanswered import Reask, reask, reopen_group, resolve_group, unanswered_groups
from rag.text import escape_markdown
from ui.analytics import download, period_filter
from ui.auth import current_user, require_page
from ui.console import get_console


def _outcome(result: Reask) -> str:
    return "not asked" if result.refused else "yes" if result.answered else "no"


account = require_page(__file__)  # before drawing anything
console = get_console()
st.title("Unanswered questions")
st.caption(
    "Questions the assistant could not answer, answered with low confidence, or that agents rated down, "
    "grouped so that the same question asked many ways is one row. Write the missing documentation, "
    "upload it, re-ask the group's questions, and mark the group resolved."
)
period = period_filter(console.engine)
show_resolved = st.toggle("Include resolved groups", value=False)
groups = unanswered_groups(
    console.engine,
    start=period.start,
    end=period.end,
    demo=period.demo,
    threshold=console.settings.min_relevance,
)
shown = [g for g in groups if show_resolved or not g.resolved]
if not shown:
    st.success("Nothing left unanswered in this period.", icon=":material/task_alt:")
    st.stop()

table = pd.DataFrame(
    {
        "Asked": [g.count for g in shown],
        "Question (latest wording)": [g.examples[0] for g in shown],
        "Why flagged": [", ".join(g.reasons) for g in shown],
        "Closest documents": [", ".join(g.closest_documents) or "–" for g in shown],
        "First seen": [g.first_seen for g in shown],
        "Last seen": [g.last_seen for g in shown],
        "Resolved": ["yes" if g.resolved else "" for g in shown],
    }
)
st.dataframe(table, hide_index=True, width="stretch")
download(table, "unanswered-questions")

labels = {g.key: f"{g.examples[0][:90]} ({g.count}×)" for g in shown}  # options are plain text
key = st.selectbox("Work on a group", list(labels), format_func=labels.__getitem__)
group = next(g for g in shown if g.key == key)
with st.container(border=True):
    st.markdown("**Wordings**")
    for example in group.examples:  # agents' words, shown as they typed them
        st.markdown(f"- {escape_markdown(example)}")
    if group.resolved:
        st.success(f"Resolved: {escape_markdown(group.resolution_note or 'no note')}")
        if st.button("Reopen", icon=":material/undo:"):
            reopen_group(console.engine, group.answer_ids)
            st.rerun()
    else:
        note = st.text_input("Resolution note", placeholder="e.g. Added 'Exporting data.md' on 12 March")
        if st.button("Mark resolved", type="primary", icon=":material/task_alt:"):
            resolve_group(console.engine, group.answer_ids, user=current_user(console), note=note)
            st.rerun()
    if st.button("Re-ask against today's knowledge base", icon=":material/refresh:"):
        with st.spinner("Asking again…"):
            results = reask(console, group.examples, user=current_user(console))
        refused = next((r.refused for r in results if r.refused), None)
        if refused:
            st.warning(f"Not every wording was asked again: {escape_markdown(refused)}")
        st.dataframe(
            pd.DataFrame(
                {
                    "Question": [r.question for r in results],
                    "Answered now": [
                        "not asked" if r.refused else "yes" if r.answered else "no" for r in results
                    ],
                    "Best source": [r.top_document or "–" for r in results],
                    "Score": [r.best_score for r in results],
                    "Answer": [r.answer for r in results],
                }
            ),
            hide_index=True,
            width="stretch",
        )
