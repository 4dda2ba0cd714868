"""Choose the parser from the file name, then hold every result to the same minimum."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import PurePath

from rag.errors import RejectedFile
from rag.parsing.csv import parse_csv
from rag.parsing.decoding import decode_text
from rag.parsing.document import ParsedDocument
from rag.parsing.docx import parse_docx
from rag.parsing.html import parse_html
from rag.parsing.markdown import parse_markdown
from rag.parsing.normalize import collapse_whitespace
from rag.parsing.pdf import parse_pdf
from rag.parsing.sniff import mismatch_message
from rag.parsing.text import parse_text

SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".csv": "csv",
}

_BINARY_PARSERS: dict[str, Callable[[bytes], ParsedDocument]] = {"pdf": parse_pdf, "docx": parse_docx}
_TEXT_PARSERS: dict[str, Callable[[str], ParsedDocument]] = {
    "html": parse_html,
    "markdown": parse_markdown,
    "text": parse_text,
    "csv": parse_csv,
}


def parse_document(filename: str, data: bytes) -> ParsedDocument:
    """Parse an uploaded file into titled sections of text.

    Raises `RejectedFile`, with a message for the user, for anything that cannot be ingested:
    an unsupported type, an empty, damaged, encrypted or mislabelled file, or one without text.
    """
    extension = PurePath(filename).suffix.lower()
    kind = SUPPORTED_EXTENSIONS.get(extension)
    if kind is None:
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        raise RejectedFile(f"Unsupported file type '{extension or filename}'; supported types: {supported}.")
    if not data.strip():
        raise RejectedFile("The file is empty.")
    if mismatch := mismatch_message(extension, kind, data):
        raise RejectedFile(mismatch)
    if kind in _BINARY_PARSERS:
        document = _BINARY_PARSERS[kind](data)
    else:
        document = _TEXT_PARSERS[kind](decode_text(data, extension=extension))
    sections = [s for s in document.sections if s.text.strip()]
    if not sections:
        raise RejectedFile("The document contains no text.")
    title = document.title or _title_from_filename(filename)
    return dataclasses.replace(document, title=title, sections=sections)


def _title_from_filename(filename: str) -> str:
    stem = PurePath(filename).stem
    return collapse_whitespace(stem.replace("_", " ").replace("-", " ")) or stem
