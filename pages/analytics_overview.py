"""Analytics overview: how much the assistant is used, how well it answers, what it costs."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from rag.analytics import most_cited_documents, never_cited_documents, overview, questions_by_day
from rag.analytics.people import questions_by_person
from rag.text import chart_labels
from ui.analytics import by_day, download, empty_state, period_filter
from ui.auth import require_page
from ui.console import get_console

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
cols[3].metric("Cost", f"${summary.cost_usd:,.2f}")
cols[4].metric(
    "Median latency", f"{summary.median_latency_ms / 1000:.1f} s" if summary.median_latency_ms else "–"
)

daily = questions_by_day(console.engine, period)
st.subheader("Questions per day")
chart = by_day(
    px.bar(daily, x="day", y=["answered", "unanswered"], labels={"value": "questions", "variable": ""})
)
st.plotly_chart(chart, width="stretch")
download(daily, "questions-per-day")

left, right = st.columns(2)
with left:
    st.subheader("Most-cited documents")
    cited = most_cited_documents(console.engine, period)
    if cited.empty:
        st.caption("No answer cited a document in this period.")
    else:
        st.plotly_chart(
            px.bar(
                chart_labels(cited, "document"), x="citations", y="document", orientation="h"
            ).update_yaxes(autorange="reversed"),
            width="stretch",
        )
        download(cited, "most-cited-documents")
with right:
    st.subheader("Never cited")
    never = never_cited_documents(console.engine, console.kb.id, period)
    if never.empty:
        st.caption("Every document in the library was cited at least once.")
    else:
        st.caption("Documents no answer cited in this period: out of date, hard to find, or not needed?")
        st.dataframe(never, hide_index=True, width="stretch")
        download(never, "never-cited-documents")

st.subheader("Who asks")
people = questions_by_person(console.engine, period)
st.dataframe(
    people.rename(
        columns={
            "person": "Person",
            "questions": "Questions",
            "answered_share": "Answered",
            "cost_usd": "Cost ($)",
            "last_question": "Last question",
        }
    ),
    hide_index=True,
    width="stretch",
    column_config={"Answered": st.column_config.NumberColumn(format="percent")},
)
download(people, "questions-by-person")
