"""HTML: visible text only, grouped under h1-h6; hidden text is dropped and flagged.

A data table becomes row passages that carry its header row (rag.parsing.tables), under its
caption or the current heading.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from bs4.element import NavigableString, Tag

from rag.parsing.document import ParsedDocument, Section
from rag.parsing.normalize import collapse_whitespace, normalize_text
from rag.parsing.tables import table_sections, text_lines

HIDDEN_TEXT_REMOVED = "hidden_text_removed"

_NOT_CONTENT = frozenset({"script", "style", "noscript", "template", "head"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_CELLS = frozenset({"td", "th"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr",
        "html", "legend", "li", "main", "nav", "ol", "p", "section", "summary", "table", "tbody",
        "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_HIDING_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden"
    r"|(?:font-size|opacity)\s*:\s*(?:0+\.?0*|\.0+)(?:px|pt|em|rem|%)?\s*(?:!important\s*)?(?:;|$)",
    re.IGNORECASE,
)


class _BlockEnd:
    """Stack marker: the block element opened here has closed."""


_BLOCK_END = _BlockEnd()


class _SectionBuilder:
    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._heading: str | None = None
        self._lines: list[str] = []
        self._line: list[str] = []

    def add(self, text: str) -> None:
        self._line.append(re.sub(r"\s+", " ", text))

    def add_cell_separator(self) -> None:
        if "".join(self._line).strip():
            self._line.append(" | ")

    def add_lines(self, text: str) -> None:
        self.end_line()
        self._lines.append(text)

    def end_line(self) -> None:
        if line := "".join(self._line).strip():
            self._lines.append(line)
        self._line = []

    def add_table(self, rows: list[list[str]], *, header: bool | None, caption: str | None) -> None:
        tables = table_sections(rows, header=header, heading=caption or self._heading)
        if tables is None:
            for line in text_lines(rows):
                self.add_lines(line)
            return
        self.end_section()
        self.sections.extend(tables)
        self._lines = []

    def start_section(self, heading: str) -> None:
        self.end_section()
        self._heading, self._lines = heading, [heading]

    def end_section(self) -> None:
        self.end_line()
        if text := normalize_text("\n".join(self._lines)):
            self.sections.append(Section(text=text, heading=self._heading))


def parse_html(text: str) -> ParsedDocument:
    with warnings.catch_warnings():
        # A page whose whole text looks like a URL or file name is still a page.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(text, "html.parser")
    title = _title(soup)
    builder = _SectionBuilder()
    hidden_text = False
    stack: list[object] = [soup]
    # An explicit stack, not recursion: hostile pages nest elements thousands deep.
    while stack:
        node = stack.pop()
        if node is _BLOCK_END:
            builder.end_line()
        elif type(node) is NavigableString:  # not comments, doctypes or script bodies
            builder.add(str(node))
        elif isinstance(node, Tag) and node.name not in _NOT_CONTENT:
            if _is_hidden(node):
                hidden_text = hidden_text or bool(node.get_text(strip=True))
            elif node.name in _HEADINGS and (heading := collapse_whitespace(node.get_text(" "))):
                builder.start_section(heading)
            elif node.name == "table":
                hidden_text = _add_table(builder, node) or hidden_text
            elif node.name == "pre":
                builder.add_lines(node.get_text())
            elif node.name == "br":
                builder.end_line()
            else:
                if node.name in _CELLS:
                    builder.add_cell_separator()
                if node.name in _BLOCKS:
                    builder.end_line()
                    stack.append(_BLOCK_END)
                stack.extend(reversed(node.contents))
    builder.end_section()
    flags = [HIDDEN_TEXT_REMOVED] if hidden_text else []
    return ParsedDocument(title=title, kind="html", sections=builder.sections, flags=flags)


def _add_table(builder: _SectionBuilder, table: Tag) -> bool:
    """Add the table's rows; whether any hidden text was left out of its cells."""
    rows: list[list[str]] = []
    header: bool | None = None
    hidden = False
    caption: str | None = None
    for row, in_head in _table_rows(table):
        cells: list[str] = []
        row_headers = 0
        for cell in row.find_all(_CELLS, recursive=False):
            if _is_hidden(cell):
                hidden = hidden or bool(cell.get_text(strip=True))
                continue
            text, cell_hidden = _visible_text(cell)
            hidden = hidden or cell_hidden
            cells.append(text)
            row_headers += cell.name == "th"
        if not rows:
            # <thead> or a first row of <th> is the header; <th> down the side labels rows, not columns.
            header = True if in_head or (cells and row_headers == len(cells)) else None
        elif row_headers and header is None:
            header = False
        rows.append(cells)
    if isinstance(tag := table.find("caption", recursive=False), Tag) and not _is_hidden(tag):
        caption = _visible_text(tag)[0] or None
    builder.add_table(rows, header=header, caption=caption)
    return hidden


def _table_rows(table: Tag) -> Iterator[tuple[Tag, bool]]:
    """The table's own rows (not those of tables nested in its cells), each with whether it is in <thead>."""
    for child in table.find_all(recursive=False):
        if child.name == "tr":
            yield child, False
        elif child.name in ("thead", "tbody", "tfoot") and not _is_hidden(child):
            for row in child.find_all("tr", recursive=False):
                if not _is_hidden(row):
                    yield row, child.name == "thead"


def _visible_text(node: Tag) -> tuple[str, bool]:
    """The text a reader sees in `node`, on one line; and whether hidden text was left out."""
    parts: list[str] = []
    hidden = False
    stack: list[object] = [node]
    while stack:
        current = stack.pop()
        if type(current) is NavigableString:
            parts.append(str(current))
        elif isinstance(current, Tag) and current.name not in _NOT_CONTENT:
            if _is_hidden(current):
                hidden = hidden or bool(current.get_text(strip=True))
            else:
                parts.append(" ")
                stack.extend(reversed(current.contents))
    return collapse_whitespace("".join(parts)), hidden


def _is_hidden(tag: Tag) -> bool:
    style = tag.get("style")
    return (
        tag.has_attr("hidden")
        or str(tag.get("aria-hidden", "")).strip().lower() == "true"
        or (isinstance(style, str) and _HIDING_STYLE.search(style) is not None)
    )


def _title(soup: BeautifulSoup) -> str:
    for name in ("title", "h1"):
        tag = soup.find(name)
        if isinstance(tag, Tag) and (text := collapse_whitespace(tag.get_text(" "))):
            return text
    return ""
