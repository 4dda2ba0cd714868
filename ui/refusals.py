"""A person's action refused with a reason they can act on: the reason shown where they acted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from rag.errors import ConsoleError
from rag.text import escape_markdown


@contextmanager
def refusal_shown() -> Iterator[None]:
    """Runs the block; a ConsoleError it raises is shown as an error here and the page goes on.
    What follows the action in the block (a notice, a rerun) runs only if it succeeded."""
    try:
        yield
    except ConsoleError as exc:
        st.error(escape_markdown(str(exc)))
