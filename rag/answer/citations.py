"""Citations [n] (or [n, m]) in an answer, checked against the passages that were actually retrieved."""

from __future__ import annotations

import re

# Logged in an answer's `error` column (with no error code) when citations were removed.
REMOVED_NOTE = "removed citations of sources that were not retrieved: "
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


def removal_note(removed: set[int]) -> str | None:
    """What the answer log records about removed citations; None when none were removed."""
    return f"{REMOVED_NOTE}{sorted(removed)}" if removed else None


def removed_in_note(note: str | None) -> set[int]:
    """The citation numbers a logged `removal_note` names (empty for anything else)."""
    if not note or not note.startswith(REMOVED_NOTE):
        return set()
    return {int(n) for n in re.findall(r"\d+", note[len(REMOVED_NOTE) :])}
