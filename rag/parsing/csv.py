"""CSV: each row as `column: value` pairs, a passage of its own or shared with a few short neighbours."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator

from rag.errors import RejectedFile
from rag.parsing.document import ParsedDocument, Section
from rag.parsing.normalize import collapse_whitespace
from rag.parsing.tables import column_names, group_rows, holds_figures, render_row

MAX_ROWS = 200_000
MAX_TEXT_CHARS = 20_000_000
_SNIFF_CHARS = 16_384
_DELIMITERS = ",;\t|"


def parse_csv(text: str) -> ParsedDocument:
    dialect = _dialect(text)
    _check_row_count(text, dialect)
    rows = _rows(text, dialect)
    first = next(rows, None)
    if first is None:
        return ParsedDocument(title="", kind="csv", sections=[])
    # A first row of names is the header; one holding figures is data (a file without a header).
    header = None if holds_figures(first) else column_names(first)
    if header is None:
        rows = itertools.chain([first], rows)
    sections = list(_sections(render_row(header, row) for row in rows))
    if not sections:
        raise RejectedFile("The CSV has a header row but no data rows.")
    return ParsedDocument(title="", kind="csv", sections=sections)


def _check_row_count(text: str, dialect: type[csv.Dialect] | csv.Dialect) -> None:
    # A first pass in csv's C reader alone, five times faster than rendering the rows: a file
    # with a million rows is refused in a fraction of a second instead of after 200,000 rows.
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        rows = sum(1 for _ in itertools.islice(filter(any, reader), MAX_ROWS + 2))
    except csv.Error as exc:
        raise RejectedFile(f"The CSV could not be read (line {reader.line_num}): {exc}.") from exc
    if rows > MAX_ROWS + 1:  # the header and MAX_ROWS data rows
        raise _too_many_rows()


def _too_many_rows() -> RejectedFile:
    return RejectedFile(
        f"The CSV has more than {MAX_ROWS:,} rows; split it into smaller files and upload them."
    )


def _rows(text: str, dialect: type[csv.Dialect] | csv.Dialect) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        for row in reader:
            cells = [collapse_whitespace(cell) for cell in row]
            if any(cells):
                yield cells
    except csv.Error as exc:
        raise RejectedFile(f"The CSV could not be read (line {reader.line_num}): {exc}.") from exc


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # a cut line would skew the delimiter counts
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        return csv.excel


def _sections(lines: Iterator[str]) -> Iterator[Section]:
    for group in group_rows(_bounded(lines)):
        heading = f"row {group.first}" if group.first == group.last else f"rows {group.first}–{group.last}"
        yield Section(text=group.text, heading=heading, kind="table")


def _bounded(lines: Iterator[str]) -> Iterator[str]:
    chars = 0
    for line in lines:
        chars += len(line) + 1
        if chars > MAX_TEXT_CHARS:
            raise RejectedFile(
                "The CSV holds more than 20 MB of text; split it into smaller files and upload them."
            )
        yield line
