"""The console every session shares: opened once per process, in a thread of its own, so that the
first page can say "Starting" at once instead of staying blank while the database starts.

This module imports nothing heavy: app.py reads it before anything else, while the console's own
imports (SQLAlchemy, the providers, the migrations) happen in the opening thread.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from rag.console import Console

STARTING = "Starting the console…"


class _Opening:
    """The console being opened by a background thread; `wait()` blocks until it is open or failed."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._console: Console | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._open, name="open-console", daemon=True).start()

    def _open(self) -> None:
        try:
            from rag.console import open_console
            from rag.settings import load_settings

            self._console = open_console(load_settings())
        except BaseException as exc:  # handed over to the session that waits for it
            self._error = exc
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self) -> Console:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._console is not None
        return self._console


@st.cache_resource(show_spinner=False)
def _opening() -> _Opening:
    return _Opening()


def start_console() -> None:
    """Start opening the console in the background, once per process (later calls do nothing)."""
    _opening()


def console_is_open() -> bool:
    """True once the console is open, or has failed to open (then `get_console` says why)."""
    return _opening().done


def get_console() -> Console:
    """The shared console (waiting for it if it is still opening), or a friendly error and a stop
    when it cannot be opened; the next run tries again."""
    opening = _opening()
    try:
        if opening.done:
            return opening.wait()
        with st.spinner(STARTING, show_time=True):
            return opening.wait()
    except BaseException as exc:
        _opening.clear()
        from rag.errors import ConsoleError  # imported once the opening thread is done importing

        if not isinstance(exc, ConsoleError):
            raise
        st.error(f"The console cannot start: {exc}")
        st.stop()


def console_details(console: Console) -> str:
    """What runs this console, for a manager's sidebar: the models, the knowledge base, the database."""
    from rag.console import database_label
    from rag.text import escape_markdown

    settings = console.settings
    answers = "offline (quotes the documents)" if settings.answer_mode == "offline" else settings.chat_model
    return (
        f"**Answers:** {answers}  \n"
        f"**Embeddings:** {console.embedder.model} ({console.embedder.provider})  \n"
        f"**Knowledge base:** {escape_markdown(console.kb.name)}  \n"
        f"**Database:** {database_label(console)}"
    )
