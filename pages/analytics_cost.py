"""Cost: dollars and tokens by day, model and purpose; per answer, per conversation, per document."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from rag.analytics import cost_by_day, cost_per_answer_by_day, cost_per_document, cost_totals
from rag.text import chart_labels, escape_markdown
from ui.analytics import by_day, empty_state, period_filter
from ui.auth import require_page
from ui.console import get_console
from ui.tables import Column, Columns, dollars, show_table

PURPOSES = {
    "chat": "chat answers",
    "query_embedding": "query embeddings",
    "ingest_embedding": "ingestion embeddings",
    "answer_embedding": "offline answerer embeddings",
}
DAILY_COLUMNS: Columns = {
    "day": Column("Day", "day"),
    "model": "Model",
    "purpose": "Purpose",
    "calls": Column("Calls", "count"),
    "tokens_in": Column("Input tokens", "count"),
    "tokens_out": Column("Output tokens", "count"),
    "cost_usd": Column("Cost", "dollars", help="Blank when no call of the row has a price"),
    "unpriced_calls": Column("Calls without a price", "count"),
}
DOCUMENT_COLUMNS: Columns = {
    "document": Column("Document", width="large"),
    "total_cost_usd": Column("Total cost", "dollars"),
    "ingest_cost_usd": Column("Ingestion cost", "dollars"),
    "answers_cost_usd": Column("Cost of answers citing it", "dollars"),
    "answers": Column("Answers citing it", "count"),
    "ingest_calls": Column("Ingestion calls", "count"),
    "ingest_tokens": Column("Ingestion tokens", "count"),
    "answer_tokens": Column("Answer tokens", "count"),
    "unpriced": Column("Without a price", "count"),
    "document_id": Column("Document id", "id", width="small"),
}
DOLLAR_COLUMNS = ["total_cost_usd", "ingest_cost_usd", "answers_cost_usd"]
GONE = "Deleted or never stored documents (their ingestion)"

account = require_page(__file__)  # before drawing anything
console = get_console()
st.title("Cost")
period = period_filter(console.engine)
totals = cost_totals(console.engine, period)
daily = cost_by_day(console.engine, period)
if daily.empty:
    empty_state(period)
    st.stop()
# No priced call cost anything: dollar charts would be flat lines at zero, so show the work instead.
no_dollars = totals.cost_usd == 0

cols = st.columns(4)
if no_dollars:
    cols[0].metric("Cost", "unknown" if totals.unpriced_models else "$0")
    cols[1].metric("Model calls", f"{int(daily['calls'].sum()):,}")
    cols[2].metric("Tokens in / out", f"{totals.tokens_in:,} / {totals.tokens_out:,}")
    cols[3].metric("Answers", f"{totals.answers:,}")
else:
    delta = f"{totals.change_pct:+.0f}% vs previous period" if totals.change_pct is not None else None
    cols[0].metric("Cost", dollars(totals.cost_usd), delta, delta_color="inverse")
    cols[1].metric("Tokens in / out", f"{totals.tokens_in:,} / {totals.tokens_out:,}")
    cols[2].metric("Per answer", dollars(totals.cost_per_answer))
    cols[3].metric("Per conversation", dollars(totals.cost_per_conversation))
if no_dollars and not totals.unpriced_models:
    models = escape_markdown(", ".join(sorted(daily["model"].unique())))  # as providers named them
    st.success(
        f"Everything in this period ran on local models, at no cost ({models}). "
        "Below: how much work they did, in calls and tokens.",
        icon=":material/computer:",
    )
if totals.cache_hits:
    st.caption(
        f"Answer cache: {totals.cache_hits:,} of {totals.answers:,} answers came from the cache, "
        f"saving {dollars(totals.saved_usd)}."
    )
if totals.unpriced_models:
    st.warning(
        f"No price configured for: {escape_markdown(', '.join(totals.unpriced_models))}. "
        "Their calls are counted below but not in the dollars; add them to MODEL_PRICES.",
        icon=":material/price_change:",
    )

daily["purpose"] = daily["purpose"].map(lambda p: PURPOSES.get(p, p))
by = st.radio("Split by", ["model", "purpose"], horizontal=True)


def daily_bars(column: str, label: str, title: str) -> None:
    """One bar per day, split by model or purpose."""
    chart = px.bar(
        chart_labels(daily, by), x="day", y=column, color=by, labels={column: label, "day": ""}, title=title
    )
    st.plotly_chart(by_day(chart), width="stretch")


if no_dollars:
    daily_bars("calls", "calls", "Model calls per day")
else:
    daily_bars("cost_usd", "dollars", "Dollars per day")
daily_bars("tokens_in", "input tokens", "Input tokens per day")
per_answer = cost_per_answer_by_day(console.engine, period)
if not no_dollars and per_answer["cost_per_answer"].notna().sum() > 1:  # one point is the metric above
    st.plotly_chart(
        px.line(
            per_answer,
            x="day",
            y="cost_per_answer",
            markers=True,
            labels={"cost_per_answer": "dollars", "day": ""},
            title="Average cost per answer",
        ),
        width="stretch",
    )

st.subheader("Cost per document")
documents = cost_per_document(console.engine, period)
if documents.empty:
    st.caption("No document was ingested or cited in this period.")
else:
    st.caption(
        "What ingesting each document cost (its embedding calls in this period) and what the answers of "
        "this period that cited it cost, re-asks included. An answer citing two documents counts in full "
        "for both, so the answer column adds up to more than the answers cost. A document ingested before "
        "this period shows only its answers."
    )
    shown = documents.assign(document=documents["document"].fillna(GONE))
    columns = {
        name: spec for name, spec in DOCUMENT_COLUMNS.items() if not no_dollars or name not in DOLLAR_COLUMNS
    }
    show_table(shown, columns, download="cost-per-document")

st.subheader("Details")
show_table(daily, DAILY_COLUMNS, download="cost-by-day")
