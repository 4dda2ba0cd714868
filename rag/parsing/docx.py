"""Word (.docx): paragraphs grouped under their headings, after a zip-bomb check.

A data table becomes row passages that carry its header row (rag.parsing.tables), under the
current heading.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator

import docx
from docx.document import Document
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph

from rag.errors import RejectedFile
from rag.parsing.document import ParsedDocument, Section
from rag.parsing.normalize import collapse_whitespace, normalize_text
from rag.parsing.tables import table_sections, text_lines

_MAX_ENTRIES = 1_000
_MAX_UNCOMPRESSED = 200 * 1024 * 1024
_MAX_RATIO = 100
_RATIO_FLOOR = 1024 * 1024  # parts smaller than this may compress as well as they like
# Where Word keeps embedded Office objects (a spreadsheet behind a chart): kept, never opened.
_EMBEDDINGS = "word/embeddings/"
_ARCHIVE_MAGIC = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x1f\x8b",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\xfd7zXZ\x00",
)
_ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".7z", ".rar", ".xz", ".bz2", ".tar", ".jar", ".docx", ".xlsx")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_NOT_DOCX = "The file is named .docx but is not a Word document."
_DAMAGED = "This file could not be read: the Word document is damaged."


def parse_docx(data: bytes) -> ParsedDocument:
    _check_archive(data)
    try:
        document = docx.Document(io.BytesIO(data))
        title = collapse_whitespace(document.core_properties.title or "")
        sections = list(_sections(document))
    # Boundary around python-docx: malformed parts surface as KeyError, lxml syntax errors,
    # PackageNotFoundError, ValueError, ...
    except Exception as exc:
        raise RejectedFile(_DAMAGED) from exc
    return ParsedDocument(title=title, kind="docx", sections=sections)


def _check_archive(data: bytes) -> None:
    if data.startswith(_OLE_MAGIC):
        raise RejectedFile(
            "The file is not a .docx: old .doc files and password-protected documents cannot be "
            "read; save it as an unprotected .docx and upload it again."
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise RejectedFile(_NOT_DOCX) from exc
    with archive:
        _check_entries(archive, archive.infolist())


def _check_entries(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo]) -> None:
    _check_sizes(entries)
    if not any(entry.filename == "word/document.xml" for entry in entries):
        raise RejectedFile(_NOT_DOCX)
    if nested := _nested_archive(archive, entries):
        raise RejectedFile(
            f"The Word document contains another archive ({nested}); documents with nested archives "
            "are not read."
        )


def _check_sizes(entries: list[zipfile.ZipInfo]) -> None:
    # Sizes come from the central directory; zipfile stops at the declared size when
    # reading, so checking them here bounds what python-docx will inflate.
    if len(entries) > _MAX_ENTRIES:
        raise RejectedFile(
            f"The Word document has {len(entries):,} parts (at most {_MAX_ENTRIES:,}); "
            "it looks like a zip bomb."
        )
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > _MAX_UNCOMPRESSED:
        raise RejectedFile("The Word document expands to more than 200 MB; it is too large to read.")
    # Per part too: incompressible padding would otherwise hide one bomb part in a fair total.
    if unpacked > _MAX_RATIO * max(sum(entry.compress_size for entry in entries), 1) or any(
        entry.file_size > _RATIO_FLOOR and entry.file_size > _MAX_RATIO * max(entry.compress_size, 1)
        for entry in entries
    ):
        raise RejectedFile("The Word document is compressed more than 100 to 1; it looks like a zip bomb.")


def _nested_archive(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo]) -> str | None:
    for entry in entries:
        if entry.filename.startswith(_EMBEDDINGS) or entry.is_dir():
            continue
        if entry.filename.lower().endswith(_ARCHIVE_SUFFIXES):
            return entry.filename
        try:
            with archive.open(entry) as part:
                head = part.read(8)
        # Boundary around zipfile reading a part: a damaged header surfaces as any of these.
        except (
            zipfile.BadZipFile,
            RuntimeError,
            NotImplementedError,
            zlib.error,
            OSError,
            EOFError,
            ValueError,
        ) as exc:
            raise RejectedFile(_DAMAGED) from exc
        if head.startswith(_ARCHIVE_MAGIC):
            return entry.filename
    return None


def _sections(document: Document) -> Iterator[Section]:
    heading: str | None = None
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows = _table_rows(block)
            if (tables := table_sections(rows, header=_marked_header(block), heading=heading)) is None:
                lines.extend(text_lines(rows))
                continue
            if section := _section(lines, heading):
                yield section
            yield from tables
            lines = []
        elif _is_heading(block) and (text := collapse_whitespace(block.text)):
            if section := _section(lines, heading):
                yield section
            heading, lines = text, [text]
        else:
            lines.append(block.text)
    if section := _section(lines, heading):
        yield section


def _section(lines: list[str], heading: str | None) -> Section | None:
    text = normalize_text("\n".join(lines))
    return Section(text=text, heading=heading) if text else None


def _is_heading(paragraph: Paragraph) -> bool:
    name = paragraph.style.name if paragraph.style is not None else None
    return bool(name) and str(name).startswith(("Heading", "Title"))


def _table_rows(table: Table) -> list[list[str]]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A merged cell is reported once per grid column it spans.
            if cell._tc is not previous:
                cells.append(collapse_whitespace(cell.text))
            previous = cell._tc
        rows.append(cells)
    return rows


def _marked_header(table: Table) -> bool | None:
    """True when Word repeats the first row as a header on every page; otherwise its cells decide."""
    properties = table.rows[0]._tr.trPr if table.rows else None
    return True if properties is not None and properties.find(qn("w:tblHeader")) is not None else None
