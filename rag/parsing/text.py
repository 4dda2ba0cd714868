"""Plain text: the whole file as one section, paragraph breaks kept."""

from __future__ import annotations

from rag.parsing.document import ParsedDocument, Section
from rag.parsing.normalize import normalize_text

TITLE_MAX_CHARS = 120


def parse_text(text: str) -> ParsedDocument:
    normalized = normalize_text(text)
    sections = [Section(text=normalized)] if normalized else []
    return ParsedDocument(title=_title_line(normalized), kind="text", sections=sections)


def _title_line(text: str) -> str:
    """A short first line standing alone above a blank line reads as the document's title."""
    first, _, rest = text.partition("\n")
    first = first.strip()
    if rest.startswith("\n") and first and len(first) <= TITLE_MAX_CHARS and first[-1] not in ".!?,;":
        return first
    return ""
