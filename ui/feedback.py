"""Thumbs up or down under an answer; a thumbs down asks why."""

from __future__ import annotations

import streamlit as st

from rag.answer import REASON_LABELS, record_feedback
from rag.console import Console


def feedback_widget(console: Console, answer_id: int, user: str) -> None:
    key = f"rating-{answer_id}"
    st.feedback("thumbs", key=key, on_change=_rate, args=(console, answer_id, user, key))
    if st.session_state.get(key) != 0:
        return
    with st.form(f"why-{answer_id}", border=False):
        reason = st.radio(
            "What was wrong?", list(REASON_LABELS), format_func=REASON_LABELS.__getitem__, horizontal=True
        )
        comment = st.text_input("Comment (optional)", max_chars=2000)
        if st.form_submit_button("Send feedback"):
            record_feedback(
                console.engine, answer_id=answer_id, user=user, rating=-1, reason=reason, comment=comment
            )
            st.toast("Thanks: the knowledge team will see this.", icon=":material/feedback:")


def _rate(console: Console, answer_id: int, user: str, key: str) -> None:
    value = st.session_state.get(key)
    if value is not None:
        record_feedback(console.engine, answer_id=answer_id, user=user, rating=1 if value == 1 else -1)
