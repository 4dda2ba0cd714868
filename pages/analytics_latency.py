"""Latency: percentiles per stage and day, the distribution, the slowest answers, errors."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from rag.analytics import errors_by_day, latency_by_day, latency_histogram, slowest_answers
from ui.analytics import download, empty_state, period_filter
from ui.auth import require_page
from ui.console import get_console

STAGES = {
    "total_ms": "total",
    "first_token_ms": "time to first token",
    "generate_ms": "generation",
    "retrieve_ms": "retrieval",
    "embed_ms": "query embedding",
}

account = require_page(__file__)  # before drawing anything
console = get_console()
st.title("Latency")
period = period_filter(console.engine)
percentiles = latency_by_day(console.engine, period)
if percentiles.empty:
    empty_state(period)
    st.stop()

stage = st.selectbox("Stage", list(STAGES), format_func=STAGES.__getitem__)
one = percentiles[percentiles["stage"] == stage]
st.plotly_chart(
    px.line(
        one,
        x="day",
        y=["p50", "p95", "p99"],
        markers=True,
        labels={"value": "ms", "variable": ""},
        title=f"{STAGES[stage].capitalize()} per day",
    ),
    width="stretch",
)
download(percentiles, "latency-percentiles")

histogram = latency_histogram(console.engine, period)
histogram["seconds"] = (histogram["bucket_start_ms"] + histogram["bucket_end_ms"]) / 2000
st.plotly_chart(
    px.bar(histogram, x="seconds", y="answers", title="Total latency of answers"), width="stretch"
)

st.subheader("Slowest answers")
slowest = slowest_answers(console.engine, period)
st.dataframe(slowest, hide_index=True, width="stretch")
download(slowest, "slowest-answers")

errors = errors_by_day(console.engine, period)
st.subheader("Errors and timeouts")
if errors.empty:
    st.caption("No answer failed in this period.")
else:
    st.plotly_chart(
        px.bar(errors, x="day", y="answers", color="error_code", title="Failed answers per day"),
        width="stretch",
    )
    download(errors, "errors-by-day")
