"""Log every model API call (ingestion included) with tokens, cost and duration."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import ModelCall
from rag.usage.pricing import Price, cost_usd


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
    # Counted with tiktoken because the call was abandoned before the provider reported usage:
    # priced like reported usage, and marked so the Cost page can say so.
    usage_estimated: bool = False

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
            "usage_estimated": c.usage_estimated,
            "answer_id": answer_id,
            "document_id": document_id,
            "user_name": user,
        }
        for c in calls
    ]
