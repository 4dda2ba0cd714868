"""Every CSV download of the console: one button, and cells a spreadsheet cannot run as formulas."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from rag.text import csv_bytes


def csv_download(frame: pd.DataFrame, name: str, *, label: str = "Download CSV") -> None:
    """A button that downloads `frame` as `<name>.csv` (rag/text/spreadsheet.py makes it safe)."""
    st.download_button(
        label,
        csv_bytes(frame),
        f"{name}.csv",
        "text/csv",
        key=f"download-{name}",
        icon=":material/download:",
    )
