"""Tables as passages: every row carries its header, so a row retrieved alone says what it holds.

A row is rendered as `column: value` pairs ("plan: Team | monthly_price_usd: 39"), or as its cells
alone when the table has no header row. Consecutive short rows share a passage up to
`ROW_GROUP_CHARS`, so a table of tiny rows does not become thousands of tiny chunks; rows are
separated by a blank line, which the chunker and the sentence splitter both read as a boundary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from rag.parsing.document import Section

# About 100 tokens. On the sample library (all-MiniLM-L6-v2), "How much does the Team plan cost per
# month?" finds the Team row first at cosine 0.56 when each ~60-token row is a passage; with the
# whole table as one passage the pricing chunk scores 0.39 and ranks behind the refund policy.
ROW_GROUP_CHARS = 400
# A header cell is repeated on every row: longer ones are cut, and a document table's first row
# with a longer cell is read as text, not as column names.
MAX_LABEL_CHARS = 80
ROW_SEPARATOR = "\n\n"
CELL_SEPARATOR = " | "
_FIGURE = re.compile(r"[-+(]?[$€£¥]?\s*\d[\d\s.,:/-]*%?\)?")


@dataclass(frozen=True)
class RowGroup:
    first: int  # 1-based numbers of the data rows in the group
    last: int
    text: str


def table_sections(
    rows: Sequence[Sequence[str]], *, header: bool | None, heading: str | None
) -> list[Section] | None:
    """A document's table as row passages under `heading`; None when it is layout, not data.

    `header`: whether the first row is the header, as the markup says; None to judge by its cells.
    A table of one row or one column (a boxed note, a list drawn as a grid) reads as text.
    """
    rows = [row for row in rows if any(row)]
    if len(rows) < 2 or max(sum(1 for cell in row if cell) for row in rows) < 2:
        return None
    names = column_names(rows[0]) if (is_header_row(rows[0]) if header is None else header) else None
    lines = (render_row(names, row) for row in (rows if names is None else rows[1:]))
    return [Section(text=group.text, heading=heading, kind="table") for group in group_rows(lines)]


def text_lines(rows: Iterable[Sequence[str]]) -> list[str]:
    """A table that is not data, as lines of text: its cells side by side."""
    return [line for row in rows if (line := CELL_SEPARATOR.join(cell for cell in row if cell))]


def is_header_row(cells: Sequence[str]) -> bool:
    """Whether a table's first row names its columns: short, distinct labels rather than figures."""
    labels = [cell for cell in cells if cell]
    return (
        len(labels) >= 2
        and len(set(labels)) == len(labels)
        and all(len(label) <= MAX_LABEL_CHARS for label in labels)
        and not holds_figures(labels)
    )


def holds_figures(cells: Sequence[str]) -> bool:
    """Whether any cell is a number, an amount or a date: data, never a column's name."""
    return any(_FIGURE.fullmatch(cell) for cell in cells)


def column_names(cells: Sequence[str]) -> list[str]:
    """A header row as labels: empty ones numbered, long ones cut (each is repeated on every row)."""
    return [_label(cell, number) for number, cell in enumerate(cells, start=1)]


def render_row(header: Sequence[str] | None, cells: Sequence[str]) -> str:
    """One row as `column: value` pairs (empty cells left out), or its cells alone without a header."""
    if header is None:
        return CELL_SEPARATOR.join(cell for cell in cells if cell)
    names = list(header) + [f"column {i}" for i in range(len(header) + 1, len(cells) + 1)]
    return CELL_SEPARATOR.join(f"{name}: {value}" for name, value in zip(names, cells, strict=False) if value)


def group_rows(lines: Iterable[str]) -> Iterator[RowGroup]:
    """Rendered rows packed into groups of at most `ROW_GROUP_CHARS` (a longer row stands alone).

    Row numbers count every line given, so an empty one (a row of empty cells) keeps its number.
    """
    batch: list[str] = []
    size = first = last = 0
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        if batch and size + len(ROW_SEPARATOR) + len(line) > ROW_GROUP_CHARS:
            yield RowGroup(first, last, ROW_SEPARATOR.join(batch))
            batch = []
        if batch:
            size += len(ROW_SEPARATOR) + len(line)
        else:
            first, size = number, len(line)
        batch.append(line)
        last = number
    if batch:
        yield RowGroup(first, last, ROW_SEPARATOR.join(batch))


def _label(cell: str, number: int) -> str:
    if not cell:
        return f"column {number}"
    return cell if len(cell) <= MAX_LABEL_CHARS else cell[: MAX_LABEL_CHARS - 1].rstrip() + "…"
