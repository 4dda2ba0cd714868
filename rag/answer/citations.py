"""Citations [n] (or [n, m]) in an answer, checked against the passages that were actually retrieved."""

from __future__ import annotations

import re

_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


def cited_numbers(text: str) -> set[int]:
    return {int(n) for group in _CITATION.findall(text) for n in group.split(",")}


def drop_unknown_citations(text: str, known: set[int]) -> tuple[str, set[int]]:
    """Remove citations to passages that were not retrieved; return the text and what was removed."""
    removed = cited_numbers(text) - known
    if not removed:
        return text, set()
    cleaned = _CITATION.sub(lambda m: _keep_known(m.group(1), known), text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned), removed


def _keep_known(group: str, known: set[int]) -> str:
    kept = [n for n in (int(part) for part in group.split(",")) if n in known]
    return "".join(f"[{n}]" for n in kept)
