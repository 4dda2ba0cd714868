"""The console every session shares: opened once per process, errors turned into messages."""

from __future__ import annotations

import streamlit as st

from rag.console import Console, open_console
from rag.errors import ConsoleError
from rag.settings import load_settings


@st.cache_resource(show_spinner="Starting the knowledge base…")
def _open() -> Console:
    return open_console(load_settings())


def get_console() -> Console:
    """The shared console, or a friendly error and a stop when it cannot be opened."""
    try:
        return _open()
    except ConsoleError as exc:
        st.error(f"The console cannot start: {exc}")
        st.stop()
