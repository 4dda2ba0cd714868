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
SLOWEST_COLUMNS = {
    "created_at": "Asked at",
    "question": "Question",
    "model": "Model",
    "state": "Ended",
    "error_code": "Error",
    "total_ms": "Total (ms)",
    "first_token_ms": "First text (ms)",
    "embed_ms": "Query embedding (ms)",
    "cache_ms": "Cache lookup (ms)",
    "retrieve_ms": "Retrieval (ms)",
    "generate_ms": "Generation (ms)",
    "log_ms": "Logging (ms)",
}
BREAKDOWN_COLUMNS = {
    "day": "Day",
    "answers": "Answers timed",
    **{part: f"{LABELS[part].capitalize()} (mean ms)" for part in (*PARTS, "total_ms")},
}
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
slowest = slowest_answers(console.engine, period)[list(SLOWEST_COLUMNS)].rename(columns=SLOWEST_COLUMNS)
st.dataframe(
    slowest,
    hide_index=True,
    width="stretch",
    column_config={
        name: st.column_config.NumberColumn(format="%.0f")
        for name in SLOWEST_COLUMNS.values()
        if "(ms)" in name
    },
)
download(slowest, "slowest-answers")

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
    download(errors, "errors-by-day")
