"""Dollar cost of a model call from the configured price table."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens."""

    input: float
    output: float = 0.0


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "text-embedding-3-small": Price(0.02),
    "text-embedding-3-large": Price(0.13),
    "text-embedding-ada-002": Price(0.10),
    "all-MiniLM-L6-v2": Price(0.0),  # the local embedder: runs on this machine
    "extractive": Price(0.0),
}


def cost_usd(prices: dict[str, Price], model: str, tokens_in: int, tokens_out: int = 0) -> Decimal | None:
    """None when the model is not in the table: unknown cost is flagged, never counted as zero."""
    price = prices.get(model)
    if price is None:
        return None
    dollars = Decimal(str(price.input)) * tokens_in + Decimal(str(price.output)) * tokens_out
    return dollars / _MILLION
