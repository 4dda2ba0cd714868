"""Markdown: sections split at ATX headings (`#` to `######`), text otherwise as written."""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.parsing.document import ParsedDocument, Section
from rag.parsing.normalize import normalize_text

_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def parse_markdown(text: str) -> ParsedDocument:
    sections = list(_sections(text))
    title = next((s.heading for s in sections if s.heading), "")
    return ParsedDocument(title=title, kind="markdown", sections=sections)


def _sections(text: str) -> Iterator[Section]:
    heading: str | None = None
    lines: list[str] = []
    fence: str | None = None
    for line in normalize_text(text, keep_indent=True).split("\n"):
        # A `#` inside a fenced code block is a comment, not a heading.
        if opening := _FENCE.match(line):
            marker = opening.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
        match = _HEADING.match(line) if fence is None else None
        if match and (title := (match.group(1) or "").strip()):
            if section := _section(lines, heading):
                yield section
            heading, lines = title, [title]
        else:
            lines.append(line)
    if section := _section(lines, heading):
        yield section


def _section(lines: list[str], heading: str | None) -> Section | None:
    text = normalize_text("\n".join(lines), keep_indent=True)
    return Section(text=text, heading=heading) if text else None
