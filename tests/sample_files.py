"""Real files of every supported type, built in memory for tests (no checked-in binaries)."""

from __future__ import annotations

import csv
import html
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import docx
from fpdf import FPDF


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1


@dataclass(frozen=True)
class Table:
    rows: list[list[str]]


def make_pdf(pages: Sequence[str], *, title: str | None = None, user_password: str | None = None) -> bytes:
    """A PDF with one page per string (core Helvetica font: Latin-1 text only)."""
    pdf = FPDF()
    if title is not None:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-" + user_password, user_password=user_password)
    return bytes(pdf.output())


def make_pdf_without_text() -> bytes:
    """A one-page PDF holding only a drawn rectangle, like a scan without OCR."""
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    return bytes(pdf.output())


def make_docx(content: Sequence[str | Heading | Table], *, title: str | None = None) -> bytes:
    """A Word document; strings become body paragraphs."""
    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    for block in content:
        if isinstance(block, Heading):
            document.add_heading(block.text, level=block.level)
        elif isinstance(block, Table):
            table = document.add_table(rows=len(block.rows), cols=len(block.rows[0]))
            for cells, row in zip(block.rows, table.rows, strict=True):
                for text, cell in zip(cells, row.cells, strict=True):
                    cell.text = text
        else:
            document.add_paragraph(block)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip_bomb(megabytes: int = 300) -> bytes:
    """A .docx-shaped zip whose word/document.xml inflates to `megabytes` MB of zeros."""
    out = io.BytesIO()
    chunk = b"\0" * (1 << 20)
    # Streamed in 1 MB chunks so the test never holds the inflated part in memory.
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/document.xml", "w") as part,
    ):
        for _ in range(megabytes):
            part.write(chunk)
    return out.getvalue()


def make_zip_with_entries(count: int = 20_000) -> bytes:
    """A .docx-shaped zip with `count` empty parts besides word/document.xml."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        for i in range(count):
            archive.writestr(f"word/media/part{i}.bin", b"")
    return out.getvalue()


def make_html(body: str, *, title: str | None = None) -> bytes:
    head = f"<head><title>{html.escape(title)}</title></head>" if title is not None else ""
    return f"<!DOCTYPE html><html>{head}<body>{body}</body></html>".encode()


def make_markdown(sections: Sequence[tuple[str, str]], *, level: int = 1) -> bytes:
    """`(heading, body)` pairs as ATX headings followed by their text."""
    return "\n\n".join(f"{'#' * level} {heading}\n\n{body}" for heading, body in sections).encode()


def make_csv(rows: Sequence[Sequence[str]], *, delimiter: str = ",") -> bytes:
    """Rows (the first is the header) as CSV text in UTF-8."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def make_text(paragraphs: Sequence[str], *, encoding: str = "utf-8") -> bytes:
    """Blank-line-separated paragraphs; `encoding="utf-16"` writes a byte-order mark."""
    return "\n\n".join(paragraphs).encode(encoding)
