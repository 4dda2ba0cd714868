"""Freshness: which documents are due for review, which matter most, and "reviewed, still true"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd
import streamlit as st

from rag.library.freshness import (
    DUE_WITHIN_DAYS,
    DocumentFreshness,
    document_freshness,
    due_documents,
    mark_reviewed,
    rated_down_documents,
    review_days,
    set_owner,
    set_review_by,
    set_review_days,
    today_utc,
    uncited_documents,
)
from rag.text import escape_markdown
from ui.analytics import period_filter
from ui.auth import current_user, require_page
from ui.console import get_console
from ui.page_registry import DOCUMENTS, may_open
from ui.refusals import refusal_shown
from ui.tables import Column, Columns, show_table

NOTICE = "freshness_notice"
STATUS = {"overdue": "Overdue", "due": "Due soon", "ok": "Up to date"}
LEADING_COLUMNS: Columns = {
    "status": "Status",
    "title": Column("Title", width="medium"),
    "filename": "File",
    "owner": "Owner",
    "review_by": Column("Review by", "day"),
    "when": "When",
}
RANKING_COLUMNS: Columns = {  # the column a ranked list adds
    "citations": Column("Cited (answers in period)", "count"),
    "rated_down": Column("Rated-down answers citing it", "count"),
}
TRAILING_COLUMNS: Columns = {
    "version": Column("Version", "count"),
    "updated_at": Column(
        "Last version", "time", help="When its latest version was uploaded, in your time zone"
    ),
    "reviewed_at": Column("Last reviewed", "time"),
    "reviewed_by": "Reviewed by",
}


def when(days_left: int) -> str:
    """How far the review date is, for people: "12 days overdue", "due today", "in 5 days"."""
    if days_left < 0:
        return f"{-days_left} day{'' if days_left == -1 else 's'} overdue"
    return "due today" if days_left == 0 else f"in {days_left} day{'' if days_left == 1 else 's'}"


def frame(documents: Sequence[DocumentFreshness]) -> pd.DataFrame:
    """The documents, one row each, under the names of the *_COLUMNS keys."""
    return pd.DataFrame(
        {
            "status": [STATUS[d.status] for d in documents],
            "title": [d.title for d in documents],
            "filename": [d.filename for d in documents],
            "owner": [d.owner for d in documents],
            "review_by": [d.review_by for d in documents],
            "when": [when(d.days_left) for d in documents],
            "citations": [d.citations for d in documents],
            "rated_down": [d.rated_down for d in documents],
            "version": [d.version for d in documents],
            "updated_at": [d.updated_at for d in documents],
            "reviewed_at": [d.reviewed_at for d in documents],
            "reviewed_by": [d.reviewed_by for d in documents],
        }
    )


def done(message: str) -> None:
    """Say what an action did on the page's next run, and start that run."""
    st.session_state[NOTICE] = message
    st.rerun()


def show(documents: Sequence[DocumentFreshness], name: str, *ranked_by: str) -> None:
    """The documents' table, with the ranking column `ranked_by` ("citations", "rated_down") if any."""
    ranking = {key: RANKING_COLUMNS[key] for key in ranked_by}
    show_table(frame(documents), {**LEADING_COLUMNS, **ranking, **TRAILING_COLUMNS}, download=name)


account = require_page(__file__)  # before drawing anything
console = get_console()
user = current_user(console)
engine, kb = console.engine, console.kb
st.title("Document freshness")
st.caption(
    "Every document has an owner and a date by which someone checks it is still true. Documents that "
    "are due and often cited are the risk: an answer may rest on something that changed. "
    "Review them, then press “Reviewed, still true”, or upload a new version (it gets a fresh date)."
)
period = period_filter(engine)
if notice := st.session_state.pop(NOTICE, None):
    st.success(notice, icon=":material/task_alt:")
everything = document_freshness(engine, kb)
if not everything:
    st.info(
        "The library is empty: upload documents first. Each one gets its uploader as owner and a review "
        "date from the review period below."
    )
    if may_open(account.role, DOCUMENTS):
        st.page_link(DOCUMENTS.file, label="Go to Documents", icon=":material/folder_open:")
    st.stop()

counts = {status: sum(d.status == status for d in everything) for status in STATUS}
cols = st.columns(4)
cols[0].metric("Documents", f"{len(everything):,}")
cols[1].metric("Overdue", f"{counts['overdue']:,}")
cols[2].metric(f"Due within {DUE_WITHIN_DAYS} days", f"{counts['due']:,}")
cols[3].metric("Up to date", f"{counts['ok']:,}")

st.subheader("Due or overdue, most cited first")
st.caption(
    f"Cited = answers between {period.start:%d %b %Y} and {period.end:%d %b %Y} that cited the document"
    + (" (demo traffic)." if period.demo else ".")
)
due = due_documents(engine, kb, start=period.start, end=period.end, demo=period.demo)
if due:
    show(due, "documents-due-for-review", "citations")
else:
    st.success(
        f"No document is due for review in the next {DUE_WITHIN_DAYS} days.", icon=":material/task_alt:"
    )

st.subheader("Cited in rated-down answers")
rated = rated_down_documents(engine, kb, start=period.start, end=period.end, demo=period.demo)
if rated:
    st.caption("Answers people rated down cited these: check them first when they are also due.")
    show(rated, "documents-in-rated-down-answers", "rated_down")
else:
    st.caption("No answer that cited a document was rated down in this period.")

st.subheader("Never cited")
uncited = uncited_documents(engine, kb, demo=period.demo)
if uncited:
    st.caption(
        "No answer has cited these yet: nobody asks about them, or retrieval does not find them. "
        "Oldest first; candidates for a rewrite or removal."
    )
    show(uncited, "documents-never-cited")
else:
    st.caption("Every document has been cited by at least one answer.")

st.subheader("Review a document")
order = {"overdue": 0, "due": 1, "ok": 2}
choices = sorted(everything, key=lambda d: (order[d.status], d.review_by, d.id))
labels = {d.id: f"{d.title} ({d.filename}): {STATUS[d.status].lower()}, {when(d.days_left)}" for d in choices}
chosen_id = st.selectbox("Document", list(labels), format_func=labels.__getitem__)  # options are plain text
chosen = next(d for d in choices if d.id == chosen_id)
with st.container(border=True):
    reviewed = (
        f"; last reviewed {chosen.reviewed_at:%d %b %Y} by {escape_markdown(chosen.reviewed_by or '?')}"
        if chosen.reviewed_at
        else "; never reviewed"
    )
    st.markdown(
        f"**{escape_markdown(chosen.title)}**, owned by {escape_markdown(chosen.owner)}: review by "
        f"{chosen.review_by:%d %b %Y} ({when(chosen.days_left)}){reviewed}."
    )
    if st.button("Reviewed, still true", type="primary", icon=":material/verified:", key="reviewed"):
        with refusal_shown():
            next_date = mark_reviewed(engine, kb, chosen.id, user=user)
            done(f"{escape_markdown(chosen.title)}: reviewed, next review by {next_date:%d %b %Y}.")
    left, right = st.columns(2)
    with left:
        owner = st.text_input("Owner", value=chosen.owner, key=f"owner-{chosen.id}")
        if st.button("Change owner", icon=":material/person:"):
            with refusal_shown():
                set_owner(engine, kb, chosen.id, owner=owner, user=user)
                done(f"{escape_markdown(chosen.title)} is now owned by {escape_markdown(owner.strip())}.")
    with right:
        new_date = st.date_input(
            "Review by",
            value=chosen.review_by,
            min_value=today_utc() - timedelta(days=3650),
            format="DD/MM/YYYY",
            key=f"review-by-{chosen.id}",
        )
        if st.button("Change review date", icon=":material/event:") and isinstance(new_date, date):
            with refusal_shown():
                set_review_by(engine, kb, chosen.id, review_by=new_date, user=user)
                done(f"{escape_markdown(chosen.title)}: review by {new_date:%d %b %Y}.")

st.subheader("Review period")
current = review_days(engine, kb)
st.caption(
    f"A new document or version of “{escape_markdown(kb.name)}” is due for review {current:,} days after "
    "it was uploaded. Changing the period moves the documents still on the old default (never reviewed, "
    "date never set by hand)."
)
days = st.number_input("Days between reviews", min_value=1, max_value=3650, value=current, step=30)
if st.button("Save review period", icon=":material/save:", disabled=int(days) == current):
    with refusal_shown():
        moved = set_review_days(engine, kb, int(days), user=user)
        done(f"Review period set to {int(days):,} days; {moved:,} document{'' if moved == 1 else 's'} moved.")
