"""What model calls cost: one record per API call, priced from the table.

In: `CallRecord`s made by the providers (tokens, duration, outcome). Out: `model_calls` rows with
their dollar cost, or NULL when a model is not in the price table (unknown is never zero).
"""

from rag.usage.calls import CallRecord, call_rows, record_calls
from rag.usage.pricing import DEFAULT_PRICES, Price, cost_usd

__all__ = ["DEFAULT_PRICES", "CallRecord", "Price", "call_rows", "cost_usd", "record_calls"]
