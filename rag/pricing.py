"""Dollar cost of a model call from the configured price table."""

from __future__ import annotations

from decimal import Decimal

from rag.settings import Price

_MILLION = Decimal(1_000_000)


def cost_usd(prices: dict[str, Price], model: str, tokens_in: int, tokens_out: int = 0) -> Decimal | None:
    """None when the model is not in the table: unknown cost is flagged, never counted as zero."""
    price = prices.get(model)
    if price is None:
        return None
    dollars = Decimal(str(price.input)) * tokens_in + Decimal(str(price.output)) * tokens_out
    return dollars / _MILLION
