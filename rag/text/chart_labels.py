"""Text shown inside a Plotly chart (axis ticks, legends, hover): rendered literally.

Plotly reads a subset of HTML in every label (`<b>`, `<br>`, `<a href=...>`, `<span style=...>`),
so a document title or a model name could become a link or restyle the chart. HTML's own escapes
for `&`, `<` and `>` make it plain text again; Plotly shows the entities as the characters.
"""

from __future__ import annotations

import html

import pandas as pd


def chart_label(text: str) -> str:
    """`text` as a Plotly label that shows exactly that text."""
    return html.escape(text, quote=False)


def chart_labels(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """A copy of `frame` whose text `columns` are safe as Plotly labels (downloads keep the original)."""
    shown = frame.copy()
    for column in columns:
        shown[column] = shown[column].map(lambda v: chart_label(v) if isinstance(v, str) else v)
    return shown
