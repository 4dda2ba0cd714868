"""Every download of the console: CSV whose cells a spreadsheet cannot run as formulas, and a
document's own file (its original, or its text), offered as stored, never built from table cells."""

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


def file_download(data: bytes, file_name: str, *, label: str, mime: str) -> None:
    """A button that downloads a document's file as it is stored (never a table: use csv_download)."""
    st.download_button(label, data, file_name=file_name, mime=mime, icon=":material/download:")
