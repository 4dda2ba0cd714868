"""The OpenAI SDK client and the translation of its exceptions into messages a user can act on."""

from __future__ import annotations

import re
from collections.abc import Mapping

import openai

from rag.errors import ModelError

# OpenAI echoes (partly masked) keys in some error messages; never pass them on.
_KEY_PATTERN = re.compile(r"\bsk-[A-Za-z0-9_*\-]{4,}")
_MAX_DETAIL_CHARS = 300

_MESSAGES = {
    "timeout": "OpenAI did not answer in time; try again, or raise OPENAI_TIMEOUT.",
    "connection": "Could not reach the OpenAI API; check the network connection and OPENAI_BASE_URL.",
    "quota_exceeded": "The OpenAI account has run out of quota; check its plan and billing details.",
    "rate_limited": "OpenAI is rate-limiting requests; wait a moment and try again.",
    "auth": "The OpenAI API key was refused; check OPENAI_API_KEY and the key's access to this model.",
    "bad_request": "OpenAI rejected the request: {detail}",
    "model_not_found": "The model was not found; check EMBEDDING_MODEL and CHAT_MODEL ({detail}).",
    "server_error": "OpenAI had a server error; try again in a moment.",
    "api_error": "The OpenAI API call failed: {detail}",
}


def make_client(*, api_key: str, base_url: str | None, timeout_s: float) -> openai.OpenAI:
    """An OpenAI client without the SDK's retries (it retries every 429): see rag.providers.retry."""
    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0)


def model_error(exc: openai.OpenAIError) -> ModelError:
    """The ModelError to raise for an SDK exception; its message never contains the API key."""
    code = _code(exc)
    detail = _detail(exc) if isinstance(exc, openai.APIError) else "no details given"
    return ModelError(_MESSAGES[code].format(detail=detail), code=code)


def _code(exc: openai.OpenAIError) -> str:
    # Timeouts are connection errors in the SDK's hierarchy: test the narrower class first.
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.RateLimitError):
        return "quota_exceeded" if "insufficient_quota" in (exc.code, exc.type) else "rate_limited"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return "auth"
    if isinstance(exc, openai.BadRequestError):
        return "bad_request"
    if isinstance(exc, openai.NotFoundError):
        return "model_not_found"
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return "server_error"
    return "api_error"


def _detail(exc: openai.APIError) -> str:
    """The server's own explanation, redacted and shortened."""
    message = exc.body.get("message") if isinstance(exc.body, Mapping) else None
    text = message if isinstance(message, str) and message else exc.message
    key = _sent_key(exc)
    if key:
        text = text.replace(key, "[redacted]")
    text = _KEY_PATTERN.sub("[redacted]", text)
    return text if len(text) <= _MAX_DETAIL_CHARS else text[:_MAX_DETAIL_CHARS] + "…"


def _sent_key(exc: openai.APIError) -> str | None:
    """The bearer token the failed request carried, so it can be cut from any echo of it."""
    scheme, _, token = exc.request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
