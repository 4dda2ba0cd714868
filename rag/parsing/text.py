"""Plain text: the whole file as one section, paragraph breaks kept."""

from __future__ import annotations

from rag.parsing.document import ParsedDocument, Section
from rag.parsing.normalize import normalize_text


def parse_text(text: str) -> ParsedDocument:
    normalized = normalize_text(text)
    sections = [Section(text=normalized)] if normalized else []
    return ParsedDocument(title="", kind="text", sections=sections)
