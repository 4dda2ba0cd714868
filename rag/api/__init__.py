"""The HTTP API: the chat for other tools, beside the Streamlit app, on the same pipeline.

In: HTTP requests with an API key (`Authorization: Bearer ...`). Out: answers with their sources,
as the console's own JSON (`POST /v1/chat`, server-sent events with `?stream=true`) or as OpenAI
chat completions (`POST /v1/chat/completions`, the knowledge base as the model); `GET /v1/health`;
OpenAPI docs at `/docs`; the web widget at `/widget.js`.
"""

from rag.api.app import create_app
from rag.api.serve import serve

__all__ = ["create_app", "serve"]
