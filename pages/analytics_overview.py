"""Analytics overview: how much the assistant is used, how well it answers, what it costs."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from rag.analytics import most_cited_documents, never_cited_documents, overview, questions_by_day
from rag.analytics.people import questions_by_person
from ui.analytics import by_day, download, empty_state, period_filter, seconds
from ui.auth import require_page
from ui.charts import horizontal_bars
from ui.console import get_console
from ui.tables import Column, Columns, dollars, show_table

CITED_COLUMNS = {"document_id": "Document id", "document": "Document", "citations": "Citations"}
NEVER_CITED_COLUMNS: Columns = {
    "document": "Document",
    "filename": "File",
    "uploaded": Column("Uploaded", "time"),
}
PEOPLE_COLUMNS: Columns = {
    "person": "Person",
    "questions": Column("Questions", "count"),
    "answered_share": Column("Answered", "share"),
    "cost_usd": Column("Cost", "dollars", help="Blank when no price is known for the models used"),
    "last_question": Column("Last question", "time"),
}

account = require_page(__file__)  # before drawing anything
console = get_console()
st.title("Analytics overview")
period = period_filter(console.engine)
summary = overview(console.engine, period)
if summary.questions == 0:
    empty_state(period)
    st.stop()

cols = st.columns(5)
cols[0].metric("Questions", f"{summary.questions:,}")
cols[1].metric("Answered", f"{summary.answered_share:.0%}" if summary.answered_share is not None else "–")
cols[2].metric(
    "Thumbs up", f"{summary.thumbs_up_rate:.0%}" if summary.thumbs_up_rate is not None else "no ratings"
)
cols[3].metric("Cost", dollars(summary.cost_usd))
cols[4].metric("Median latency", seconds(summary.median_latency_ms))

daily = questions_by_day(console.engine, period)
st.subheader("Questions per day")
chart = by_day(
    px.bar(daily, x="day", y=["answered", "unanswered"], labels={"value": "questions", "variable": ""})
)
st.plotly_chart(chart, width="stretch")
download(daily.rename(columns=str.capitalize), "questions-per-day")

left, right = st.columns(2)
with left:
    st.subheader("Most-cited documents")
    cited = most_cited_documents(console.engine, period)
    if cited.empty:
        st.caption("No answer cited a document in this period.")
    else:
        chart = horizontal_bars(cited, label="document", value="citations", value_title="citations")
        st.plotly_chart(chart, width="stretch")
        download(cited.rename(columns=CITED_COLUMNS), "most-cited-documents")
with right:
    st.subheader("Never cited")
    never = never_cited_documents(console.engine, console.kb.id, period)
    if never.empty:
        st.caption("Every document in the library was cited at least once.")
    else:
        st.caption("Documents no answer cited in this period: out of date, hard to find, or not needed?")
        show_table(never, NEVER_CITED_COLUMNS, download="never-cited-documents")

st.subheader("Who asks")
people = questions_by_person(console.engine, period)
show_table(people, PEOPLE_COLUMNS, download="questions-by-person")
