"""The notes under an answer that was not generated just now: from the answer cache, or curated."""

from __future__ import annotations

from datetime import UTC, datetime

from rag.text import escape_markdown


def cached_caption(when: datetime) -> str:
    return f"Cached answer from {when.astimezone(UTC):%d %b %Y, %H:%M} UTC: the model was not asked again."


def curated_caption(author: str, when: datetime) -> str:
    """A curated answer: written by a person (named as they are recorded), given as they wrote it."""
    return (
        f"Curated answer by {escape_markdown(author)}, {when.astimezone(UTC):%d %b %Y}: "
        "written by a knowledge manager for this question, not generated."
    )
