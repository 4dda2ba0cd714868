"""Log every model API call (ingestion included) with tokens, cost and duration."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import ModelCall
from rag.embedding import Embedder, EmbeddingBatch
from rag.errors import ModelError
from rag.pricing import cost_usd
from rag.settings import Price


@dataclass(frozen=True)
class CallRecord:
    purpose: str  # chat, query_embedding, ingest_embedding
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    duration_ms: float
    ok: bool
    error_code: str | None = None
    usage_known: bool = True  # False: the provider never said how many tokens it used

    def cost(self, prices: dict[str, Price]) -> Decimal | None:
        """Dollars for this call; None (unknown, not zero) for unpriced models or unreported usage."""
        if not self.usage_known:
            return None
        return cost_usd(prices, self.model, self.tokens_in, self.tokens_out)


def record_calls(
    engine: Engine,
    calls: list[CallRecord],
    *,
    prices: dict[str, Price],
    user: str,
    document_id: int | None = None,
) -> None:
    if calls:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(ModelCall), call_rows(calls, prices=prices, user=user, document_id=document_id)
            )


def call_rows(
    calls: list[CallRecord],
    *,
    prices: dict[str, Price],
    user: str,
    answer_id: int | None = None,
    document_id: int | None = None,
) -> list[dict[str, Any]]:
    """`model_calls` rows for these calls, each priced from the table."""
    return [
        {
            "purpose": c.purpose,
            "provider": c.provider,
            "model": c.model,
            "tokens_in": c.tokens_in,
            "tokens_out": c.tokens_out,
            "cost_usd": c.cost(prices),
            "duration_ms": c.duration_ms,
            "ok": c.ok,
            "error_code": c.error_code,
            "answer_id": answer_id,
            "document_id": document_id,
            "user_name": user,
        }
        for c in calls
    ]


def timed_embed(
    embedder: Embedder, texts: list[str], *, purpose: str, calls: list[CallRecord]
) -> EmbeddingBatch:
    """Embed and append what the call cost to `calls`, whether it succeeded or not."""
    started = time.perf_counter()
    try:
        batch = embedder.embed(texts)
    except ModelError as exc:
        calls.append(_record(embedder, purpose, 0, started, exc.code))
        raise
    calls.append(_record(embedder, purpose, batch.tokens, started, None))
    return batch


def _record(embedder: Embedder, purpose: str, tokens: int, started: float, error: str | None) -> CallRecord:
    ms = (time.perf_counter() - started) * 1000
    return CallRecord(purpose, embedder.provider, embedder.model, tokens, 0, ms, error is None, error)
