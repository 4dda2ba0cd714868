"""The API service: FastAPI over the same pipeline as the pages (no logic of its own).

`create_app(console)` builds it; `python -m rag api` serves it with uvicorn. OpenAPI docs at /docs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse

from rag.api import chat, completions
from rag.api.consoles import Consoles
from rag.api.errors import install_error_handlers
from rag.console import Console

WIDGET = Path(__file__).parent / "widget.js"


def create_app(console: Console, *, cors_origins: tuple[str, ...] = ("*",)) -> FastAPI:
    app = FastAPI(
        title="Knowledge Console API",
        summary="Answers from your documents, with cited sources.",
        description=(
            "Authenticate with an API key (a manager makes them on the Users page) as "
            "`Authorization: Bearer <key>`. `/v1/chat` is the console's own chat; "
            "`/v1/chat/completions` speaks OpenAI's protocol, with the knowledge base as the model."
        ),
        version="1",
    )
    app.state.consoles = Consoles(console)
    # The widget runs on other internal sites and calls with a key, never a cookie.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(cors_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    install_error_handlers(app)
    app.include_router(chat.router)
    app.include_router(completions.router)

    @app.get("/v1/health", summary="Is the service up, and can it reach its database?")
    def health() -> JSONResponse:
        return _health(console)

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> FileResponse:
        return FileResponse(WIDGET, media_type="text/javascript", headers={"Cache-Control": "max-age=300"})

    return app


def _health(console: Console) -> JSONResponse:
    body: dict[str, Any] = {
        "status": "ok",
        "answers": console.generator.model,
        "embeddings": console.embedder.model,
    }
    try:
        with console.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        body["database"] = "ok"
    except sa.exc.SQLAlchemyError:
        body |= {"status": "unavailable", "database": "unreachable"}
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)
