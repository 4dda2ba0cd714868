"""Cost: dollars and tokens by day, model and purpose; per answer and per conversation."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from rag.analytics import cost_by_day, cost_per_answer_by_day, cost_totals
from ui.analytics import download, empty_state, period_filter
from ui.auth import require_page
from ui.console import get_console

PURPOSES = {
    "chat": "chat answers",
    "query_embedding": "query embeddings",
    "ingest_embedding": "ingestion embeddings",
}

account = require_page(__file__)  # before drawing anything
console = get_console()
st.title("Cost")
period = period_filter(console.engine)
totals = cost_totals(console.engine, period)
daily = cost_by_day(console.engine, period)
if daily.empty:
    empty_state(period)
    st.stop()

cols = st.columns(4)
delta = f"{totals.change_pct:+.0f}% vs previous period" if totals.change_pct is not None else None
cols[0].metric("Cost", f"${totals.cost_usd:,.2f}", delta, delta_color="inverse")
cols[1].metric("Tokens in / out", f"{totals.tokens_in:,} / {totals.tokens_out:,}")
cols[2].metric("Per answer", f"${totals.cost_per_answer:,.4f}" if totals.cost_per_answer is not None else "–")
cols[3].metric(
    "Per conversation",
    f"${totals.cost_per_conversation:,.4f}" if totals.cost_per_conversation is not None else "–",
)
if totals.cache_hits:
    st.caption(
        f"Answer cache: {totals.cache_hits:,} of {totals.answers:,} answers came from the cache, "
        f"saving ${totals.saved_usd:,.4f}."
    )
if totals.unpriced_models:
    st.warning(
        f"No price configured for: {', '.join(totals.unpriced_models)}. "
        "Their calls are counted below but not in the dollars; add them to MODEL_PRICES.",
        icon=":material/price_change:",
    )

daily["purpose"] = daily["purpose"].map(lambda p: PURPOSES.get(p, p))
by = st.radio("Split by", ["model", "purpose"], horizontal=True)
st.plotly_chart(
    px.bar(daily, x="day", y="cost_usd", color=by, labels={"cost_usd": "dollars"}, title="Dollars per day"),
    width="stretch",
)
st.plotly_chart(
    px.bar(
        daily,
        x="day",
        y="tokens_in",
        color=by,
        labels={"tokens_in": "input tokens"},
        title="Input tokens per day",
    ),
    width="stretch",
)
per_answer = cost_per_answer_by_day(console.engine, period)
st.plotly_chart(
    px.line(per_answer, x="day", y="cost_per_answer", markers=True, title="Average cost per answer"),
    width="stretch",
)
st.subheader("Details")
st.dataframe(daily, hide_index=True, width="stretch")
download(daily, "cost-by-day")
