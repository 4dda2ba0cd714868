"""The API on uvicorn in a thread, on a free port of 127.0.0.1, for as long as a test needs it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from rag.api import create_app
from rag.console import Console


@contextlib.contextmanager
def serving_api(console: Console) -> Iterator[str]:
    """Yields the API's base URL (http://127.0.0.1:PORT); stops the server when the block ends."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(console), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
