"""The model seams and what plugs into them: embedders turn texts into vectors, generators stream
answers from numbered sources.

In: texts to embed; a question with its sources and recent turns. Out: unit vectors with their
token count; a streamed `Generation` whose usage and timings are final once it is exhausted. Every
call is reported as a `CallRecord` (rag.usage). Providers: the local all-MiniLM-L6-v2 model, the
offline extractive answerer, and the OpenAI API (or any server that speaks it), with our own retry
policy and a per-model request rate limit. The OpenAI SDK is imported only when it is used.
"""

from rag.providers.embedder import Embedder, EmbeddingBatch, timed_embed
from rag.providers.extractive import ExtractiveGenerator
from rag.providers.factory import (
    DEFAULT_EMBEDDING_MODEL,
    AnswerMode,
    EmbeddingProvider,
    OpenAIAccess,
    make_embedder,
    make_generator,
)
from rag.providers.generator import AnswerRequest, Generation, Generator, Source, Turn, Usage
from rag.providers.local_embedder import LocalEmbedder
from rag.providers.rate_limit import RateLimiter, RateLimiters

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "AnswerMode",
    "AnswerRequest",
    "Embedder",
    "EmbeddingBatch",
    "EmbeddingProvider",
    "ExtractiveGenerator",
    "Generation",
    "Generator",
    "LocalEmbedder",
    "OpenAIAccess",
    "RateLimiter",
    "RateLimiters",
    "Source",
    "Turn",
    "Usage",
    "make_embedder",
    "make_generator",
    "timed_embed",
]
