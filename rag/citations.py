"""Citations [n] in an answer, checked against the passages that were actually retrieved."""

from __future__ import annotations

import re

_CITATION = re.compile(r"\[(\d{1,3})\]")


def cited_numbers(text: str) -> set[int]:
    return {int(n) for n in _CITATION.findall(text)}


def drop_unknown_citations(text: str, known: set[int]) -> tuple[str, set[int]]:
    """Remove citations to passages that were not retrieved; return the text and what was removed."""
    removed = cited_numbers(text) - known
    if not removed:
        return text, set()
    cleaned = _CITATION.sub(lambda m: m.group(0) if int(m.group(1)) in known else "", text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned), removed
