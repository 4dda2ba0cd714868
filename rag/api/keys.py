"""Who is calling: the API key in `Authorization: Bearer ...` (what OpenAI clients send)."""

from __future__ import annotations

from fastapi import Request

from rag.api.errors import unauthorized
from rag.auth.api_keys import KeyCaller, key_caller

MISSING = (
    "Missing API key: send it as 'Authorization: Bearer <key>' (a manager makes keys on the Users page)."
)
INVALID = "Invalid or revoked API key."


def caller_of(request: Request) -> KeyCaller:
    """The key's caller; 401 when the key is missing, unknown, revoked or its account deactivated."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise unauthorized(MISSING)
    caller = key_caller(request.app.state.consoles.base.engine, key.strip())
    if caller is None:
        raise unauthorized(INVALID)
    return caller
