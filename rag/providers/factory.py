"""Build an embedder and an answerer: local and offline by default, OpenAI when asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from rag.errors import ConfigError
from rag.providers.embedder import Embedder
from rag.providers.extractive import ExtractiveGenerator
from rag.providers.generator import Generator
from rag.providers.local_embedder import MODEL as LOCAL_MODEL
from rag.providers.local_embedder import LocalEmbedder

if TYPE_CHECKING:
    import openai

    from rag.providers.retry import RetryPolicy

EmbeddingProvider = Literal["local", "openai"]
AnswerMode = Literal["offline", "openai"]  # offline: the extractive answerer, no model call

# Kept here rather than beside the OpenAI embedder, whose module loads the SDK: the offline
# default reads these names but never imports it.
OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_EMBEDDING_MODEL: dict[EmbeddingProvider, str] = {
    "local": LOCAL_MODEL,
    "openai": OPENAI_EMBEDDING_MODEL,
}


@dataclass(frozen=True)
class OpenAIAccess:
    """How to reach the OpenAI API or a compatible server; read only by the OpenAI providers."""

    api_key: str | None = field(repr=False)
    base_url: str | None
    timeout_s: float
    max_retries: int


def make_embedder(*, provider: EmbeddingProvider, model: str, api: OpenAIAccess) -> Embedder:
    if provider == "local":
        if model != LOCAL_MODEL:
            raise ConfigError(f"The local embedder runs {LOCAL_MODEL} only, not {model!r}")
        return LocalEmbedder()
    from rag.providers.openai_embedder import OpenAIEmbedder

    return OpenAIEmbedder(client=_client(api), model=model, retry=_retry(api))


def make_generator(
    *,
    mode: AnswerMode,
    embedder: Embedder,
    model: str,
    temperature: float,
    max_tokens: int,
    api: OpenAIAccess,
) -> Generator:
    if mode == "offline":
        return ExtractiveGenerator(embedder=embedder)
    from rag.providers.openai_chat import OpenAIChatGenerator

    return OpenAIChatGenerator(
        client=_client(api), model=model, temperature=temperature, max_tokens=max_tokens, retry=_retry(api)
    )


def _client(api: OpenAIAccess) -> openai.OpenAI:
    # Imported on use: the offline default never loads the SDK.
    from rag.providers.openai_client import make_client

    if not api.api_key:
        raise ConfigError("OPENAI_API_KEY is required for the OpenAI provider")
    return make_client(api_key=api.api_key, base_url=api.base_url, timeout_s=api.timeout_s)


def _retry(api: OpenAIAccess) -> RetryPolicy:
    from rag.providers.retry import RetryPolicy

    return RetryPolicy(max_retries=api.max_retries)
