"""The note under an answer that came from the answer cache."""

from __future__ import annotations

from datetime import UTC, datetime


def cached_caption(when: datetime) -> str:
    return f"Cached answer from {when.astimezone(UTC):%d %b %Y, %H:%M} UTC: the model was not asked again."
