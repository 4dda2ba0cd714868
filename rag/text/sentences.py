"""Sentence boundaries, good enough for chunking and for quoting: no model, no network."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (optionally followed by quotes or brackets) before whitespace and an
# uppercase letter, digit or opening quote; or at a blank line / line break before a list item.
_BOUNDARY = re.compile(
    r"""(?<=[.!?])["')\]]*\s+(?=["'(\[]?[A-Z0-9])"""  # end of sentence
    r"""|\n\s*\n"""  # paragraph break
    r"""|\n(?=\s*(?:[-*•]|\d+[.)])\s)"""  # list item on its own line
)
# A short line with no closing punctuation followed by a capitalised line is a heading; longer
# unpunctuated lines are hard-wrapped sentences and must not be cut.
_HEADING_LINE = re.compile(r"""^[^\n]{1,80}?[^.!?:;,\s][ \t]*\n(?=[ \t]*[A-Z0-9"'(\[])""", re.MULTILINE)
_HEADING_MAX_WORDS = 10
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "Mr.", "Mrs.", "Ms.", "Dr.", "No.", "Fig.", "approx.")


def sentence_starts(text: str) -> list[int]:
    """Character offsets where sentences begin, in order; always starts with 0 for non-empty text."""
    starts = {0} if text else set()
    for match in _BOUNDARY.finditer(text):
        if text.endswith(_ABBREVIATIONS, 0, match.start()):
            continue
        starts.add(match.end())
    for match in _HEADING_LINE.finditer(text):
        if len(match.group(0).split()) <= _HEADING_MAX_WORDS:
            starts.add(match.end())
    return sorted(s for s in starts if s < len(text))


def split_sentences(text: str) -> list[str]:
    if not text:
        return []
    starts = sentence_starts(text)
    ends = [*starts[1:], len(text)]
    return [text[a:b].strip() for a, b in zip(starts, ends, strict=True) if text[a:b].strip()]
