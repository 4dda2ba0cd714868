"""`python -m rag api`: the API on uvicorn, one process (several can run behind a balancer)."""

from __future__ import annotations

import uvicorn

from rag.api.app import create_app
from rag.console import Console


def serve(console: Console, *, host: str, port: int, cors_origins: tuple[str, ...] = ("*",)) -> None:
    uvicorn.run(create_app(console, cors_origins=cors_origins), host=host, port=port, log_level="info")
