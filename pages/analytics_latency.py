"""Latency: where an answer's time goes, percentiles per stage, the distribution, the slowest, errors."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from rag.analytics import (
    PARTS,
    errors_by_day,
    latency_by_day,
    latency_histogram,
    slowest_answers,
    stage_time,
    stage_time_by_day,
    total_percentiles,
)
from ui.analytics import by_day, download, empty_state, period_filter, seconds
from ui.auth import require_page
from ui.console import get_console
from ui.tables import Column, Columns, show_table

# The parts of an answer's total, in the order they happen, then the points in time.
LABELS = {
    "embed_ms": "query embedding",
    "cache_ms": "cache lookup",
    "retrieve_ms": "retrieval",
    "generate_ms": "generation",
    "log_ms": "logging",
    "other_ms": "other",
    "first_token_ms": "time to first text",
    "total_ms": "total",
}
PERCENTILE_STAGES = [
    "total_ms",
    "first_token_ms",
    "generate_ms",
    "retrieve_ms",
    "cache_ms",
    "embed_ms",
    "log_ms",
]
SLOWEST_COLUMNS: Columns = {
    "created_at": Column("Asked at", "time"),
    "question": Column("Question", width="large"),
    "model": "Model",
    "state": "Ended",
    "error_code": "Error",
    "total_ms": Column("Total", "duration_ms"),
    "first_token_ms": Column("First text", "duration_ms"),
    "embed_ms": Column("Query embedding", "duration_ms"),
    "cache_ms": Column("Cache lookup", "duration_ms"),
    "retrieve_ms": Column("Retrieval", "duration_ms"),
    "generate_ms": Column("Generation", "duration_ms"),
    "log_ms": Column("Logging", "duration_ms"),
}
ENDINGS = {"done": "Finished", "failed": "Failed", "interrupted": "Interrupted"}
BREAKDOWN_COLUMNS = {
    "day": "Day",
    "answers": "Answers timed",
    **{part: f"{LABELS[part].capitalize()} (mean ms)" for part in (*PARTS, "total_ms")},
}
ERROR_COLUMNS = {"day": "Day", "error_code": "Error", "answers": "Failed answers", "timeouts": "Timeouts"}
COLORS = dict(zip([LABELS[p] for p in PARTS], px.colors.qualitative.Safe, strict=False))

account = require_page(__file__)  # before drawing anything
console = get_console()
st.title("Latency")
period = period_filter(console.engine)
percentiles = latency_by_day(console.engine, period)
if percentiles.empty:
    empty_state(period)
    st.stop()
single_day = percentiles["day"].nunique() == 1

st.subheader("Where the time goes")
breakdown = stage_time(console.engine, period)
if breakdown is None:
    st.caption("No answer of this period has a total time: each one failed before it was timed.")
else:
    typical = total_percentiles(console.engine, period)
    cols = st.columns(4)
    cols[0].metric("Answers timed", f"{breakdown.answers:,}")
    cols[1].metric("Mean total", seconds(breakdown.total_ms))
    cols[2].metric("Median total", seconds(typical[0.5]))
    cols[3].metric("95th percentile", seconds(typical[0.95]))
    parts = pd.DataFrame({"stage": [LABELS[p] for p in PARTS], "ms": list(breakdown.parts().values())})
    total = breakdown.total_ms or 1.0  # shares of an all-zero total: none
    parts["share"] = parts["ms"] / total
    biggest, biggest_ms = max(breakdown.parts().items(), key=lambda part: part[1])
    st.plotly_chart(
        px.bar(
            parts.assign(period="this period"),
            x="ms",
            y="period",
            color="stage",
            orientation="h",
            color_discrete_map=COLORS,
            custom_data=["share"],
            labels={"ms": "mean ms per answer", "period": "", "stage": ""},
            title="An average answer, stage by stage",
            height=260,
        )
        .update_traces(hovertemplate="%{x:,.0f} ms (%{customdata[0]:.0%})")
        .update_yaxes(showticklabels=False)
        .update_layout(legend={"orientation": "h", "y": -1.1, "x": 0}),
        width="stretch",
    )
    st.caption(
        f"{LABELS[biggest].capitalize()} takes {biggest_ms / total:.0%} of an average answer's "
        f"{seconds(breakdown.total_ms)}. Means, not medians: the stages add up to the total. "
        "Other is the rest: reading the conversation and drawing the page. "
        "Time to first text is a moment within the total, not a stage of it."
    )
    daily = stage_time_by_day(console.engine, period)
    if not single_day:
        stacked = daily.melt(
            id_vars=["day", "answers"], value_vars=list(PARTS), var_name="stage", value_name="ms"
        )
        stacked["stage"] = stacked["stage"].map(LABELS)
        st.plotly_chart(
            by_day(
                px.bar(
                    stacked,
                    x="day",
                    y="ms",
                    color="stage",
                    color_discrete_map=COLORS,
                    hover_data=["answers"],
                    labels={"ms": "mean ms per answer", "day": "", "stage": ""},
                    title="Mean time per answer, by stage and day",
                )
            ),
            width="stretch",
        )
    download(daily.rename(columns=BREAKDOWN_COLUMNS), "latency-by-stage")

st.subheader("Percentiles per stage")
readable = percentiles.assign(stage=percentiles["stage"].map(LABELS))
if single_day:  # one point per line says nothing: every stage side by side instead
    st.plotly_chart(
        px.bar(
            readable.melt(id_vars=["day", "stage"], value_vars=["p50", "p95", "p99"], var_name="percentile"),
            x="stage",
            y="value",
            color="percentile",
            barmode="group",
            labels={"value": "ms", "stage": "", "percentile": ""},
            title=f"Each stage on {percentiles['day'].iloc[0]:%d %b %Y}",
        ),
        width="stretch",
    )
else:
    stage = st.selectbox("Stage", PERCENTILE_STAGES, format_func=LABELS.__getitem__)
    st.plotly_chart(
        px.line(
            percentiles[percentiles["stage"] == stage],
            x="day",
            y=["p50", "p95", "p99"],
            markers=True,
            labels={"value": "ms", "variable": "", "day": ""},
            title=f"{LABELS[stage].capitalize()} per day",
        ),
        width="stretch",
    )
download(
    readable.rename(
        columns={
            "day": "Day",
            "stage": "Stage",
            "p50": "Median (ms)",
            "p95": "95th pct (ms)",
            "p99": "99th pct (ms)",
        }
    ),
    "latency-percentiles",
)

histogram = latency_histogram(console.engine, period)
histogram["seconds"] = (histogram["bucket_start_ms"] + histogram["bucket_end_ms"]) / 2000
st.plotly_chart(
    px.bar(
        histogram,
        x="seconds",
        y="answers",
        labels={"seconds": "total time (s)", "answers": "answers"},
        title="Total time of answers",
    ),
    width="stretch",
)

st.subheader("Slowest answers")
slowest = slowest_answers(console.engine, period)
slowest["state"] = slowest["state"].map(lambda ending: ENDINGS.get(ending, ending))
show_table(slowest, SLOWEST_COLUMNS, download="slowest-answers")

errors = errors_by_day(console.engine, period)
st.subheader("Errors and timeouts")
if errors.empty:
    st.caption("No answer failed in this period.")
else:
    st.plotly_chart(
        by_day(
            px.bar(
                errors,
                x="day",
                y="answers",
                color="error_code",
                labels={"answers": "failed answers", "day": "", "error_code": "error"},
                title="Failed answers per day",
            )
        ),
        width="stretch",
    )
    download(errors.rename(columns=ERROR_COLUMNS), "errors-by-day")
