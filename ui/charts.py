"""Charts sized to what they show: horizontal bars as tall as their count, a margin that fits the
labels, long labels shortened on the axis with the whole text on hover.

Labels that come from data (document titles, model names) pass through `rag.text.chart_labels`.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from rag.text import chart_labels

BAR_PX = 30  # per bar: a label line and some air
CHROME_PX = 90  # title, value axis and its ticks
MIN_HEIGHT_PX = 180
LABEL_CHARS = 40  # an axis label longer than this is shortened; hover shows all of it
CHAR_PX = 7  # average width of a character of Plotly's 12 px axis font
MAX_MARGIN_PX = LABEL_CHARS * CHAR_PX + 20


def short_label(text: object, limit: int = LABEL_CHARS) -> str:
    """`text` cut to `limit` characters, ending in "…" when it was cut; "" for nothing."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):  # type: ignore[call-overload]
        return ""
    whole = str(text)
    return whole if len(whole) <= limit else whole[: limit - 1].rstrip() + "…"


def bars_height(count: int) -> int:
    """Pixels for a horizontal bar chart of `count` bars."""
    return max(MIN_HEIGHT_PX, CHROME_PX + BAR_PX * count)


def label_margin(labels: list[str]) -> int:
    """A left margin, in pixels, wide enough for the longest of the (already shortened) labels."""
    longest = max((len(label) for label in labels), default=0)
    return min(MAX_MARGIN_PX, longest * CHAR_PX + 20)


def horizontal_bars(
    frame: pd.DataFrame, *, label: str, value: str, value_title: str, title: str | None = None
) -> go.Figure:
    """One bar per row, in the frame's order from the top, labelled by the text column `label`."""
    ticks = [short_label(text) for text in frame[label]]
    shown = chart_labels(frame.assign(_tick=ticks), label, "_tick")
    figure = px.bar(
        shown,
        x=value,
        y=label,
        orientation="h",
        labels={value: value_title, label: ""},
        title=title,
        height=bars_height(len(shown)),
    )
    figure.update_traces(hovertemplate=f"%{{y}}<br>%{{x:,}} {value_title}<extra></extra>")
    figure.update_yaxes(
        autorange="reversed",
        tickmode="array",
        tickvals=list(shown[label]),
        ticktext=list(shown["_tick"]),
        automargin=True,
    )
    return figure.update_layout(margin={"l": label_margin(ticks), "r": 20, "t": 40 if title else 20})
