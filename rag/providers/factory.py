"""Build the configured embedder and answerer: local and offline by default, OpenAI when asked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.errors import ConfigError
from rag.providers.embedder import Embedder
from rag.providers.extractive import ExtractiveGenerator
from rag.providers.generator import Generator
from rag.providers.local_embedder import MODEL as LOCAL_MODEL
from rag.providers.local_embedder import LocalEmbedder
from rag.settings import Settings

if TYPE_CHECKING:
    import openai

    from rag.providers.retry import RetryPolicy

_local: dict[str, LocalEmbedder] = {}


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedding_provider == "local":
        if settings.embedding_model != LOCAL_MODEL:
            raise ConfigError(f"The local embedder runs {LOCAL_MODEL} only, not {settings.embedding_model!r}")
        # One model in memory per process, however many consoles are opened.
        return _local.setdefault(LOCAL_MODEL, LocalEmbedder())
    from rag.providers.openai_embedder import OpenAIEmbedder

    return OpenAIEmbedder(client=_client(settings), model=settings.embedding_model, retry=_retry(settings))


def make_generator(settings: Settings, embedder: Embedder) -> Generator:
    if settings.answer_mode == "offline":
        return ExtractiveGenerator(embedder=embedder)
    from rag.providers.openai_chat import OpenAIChatGenerator

    return OpenAIChatGenerator(
        client=_client(settings),
        model=settings.chat_model,
        temperature=settings.chat_temperature,
        max_tokens=settings.chat_max_tokens,
        retry=_retry(settings),
    )


def _client(settings: Settings) -> openai.OpenAI:
    # Imported on use: the offline default never loads the SDK.
    from rag.providers.openai_client import make_client

    if not settings.openai_api_key:
        raise ConfigError("OPENAI_API_KEY is required for the OpenAI provider")
    return make_client(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        timeout_s=settings.openai_timeout_s,
    )


def _retry(settings: Settings) -> RetryPolicy:
    from rag.providers.retry import RetryPolicy

    return RetryPolicy(max_retries=settings.openai_max_retries)
