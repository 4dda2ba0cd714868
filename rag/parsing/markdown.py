"""Markdown: sections split at ATX headings (`#` to `######`), text otherwise as written.

Pipe tables (a header line, then a `| --- |` delimiter line) become row passages that carry the
header (rag.parsing.tables).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.parsing.document import ParsedDocument, Section
from rag.parsing.normalize import collapse_whitespace, normalize_text
from rag.parsing.tables import table_sections, text_lines

_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_DELIMITER_ROW = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_CELL_BREAK = re.compile(r"(?<!\\)\|")


def parse_markdown(text: str) -> ParsedDocument:
    sections = list(_sections(normalize_text(text, keep_indent=True).split("\n")))
    title = next((s.heading for s in sections if s.heading), "")
    return ParsedDocument(title=title, kind="markdown", sections=sections)


def _sections(lines: list[str]) -> Iterator[Section]:
    heading: str | None = None
    body: list[str] = []
    fence: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        # A `#` inside a fenced code block is a comment, not a heading.
        if opening := _FENCE.match(line):
            marker = opening.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
        match = _HEADING.match(line) if fence is None else None
        if match and (title := (match.group(1) or "").strip()):
            if section := _section(body, heading):
                yield section
            heading, body = title, [title]
        elif fence is None and (end := _table_end(lines, i)) > i:
            rows = [_cells(row) for row in (lines[i], *lines[i + 2 : end])]
            if (tables := table_sections(rows, header=True, heading=heading)) is None:
                body.extend(text_lines(rows))
            else:
                if section := _section(body, heading):
                    yield section
                yield from tables
                body = []
            i = end
            continue
        else:
            body.append(line)
        i += 1
    if section := _section(body, heading):
        yield section


def _table_end(lines: list[str], i: int) -> int:
    """The index after the pipe table starting at line `i`, or `i` when none starts there."""
    if i + 1 >= len(lines) or "|" not in lines[i] or not _DELIMITER_ROW.match(lines[i + 1]):
        return i
    if len(_cells(lines[i])) != len(_cells(lines[i + 1])):
        return i
    end = i + 2
    while end < len(lines) and "|" in lines[end] and lines[end].strip():
        end += 1
    return end


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line.removeprefix("|")
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [collapse_whitespace(cell).replace("\\|", "|") for cell in _CELL_BREAK.split(line)]


def _section(lines: list[str], heading: str | None) -> Section | None:
    text = normalize_text("\n".join(lines), keep_indent=True)
    return Section(text=text, heading=heading) if text else None
