"""PDF: one section per page that has text, title from the document information."""

from __future__ import annotations

import io

from pypdf import PasswordType, PdfReader
from pypdf.errors import PyPdfError

from rag.errors import RejectedFile
from rag.parsing.document import ParsedDocument, Section
from rag.parsing.normalize import collapse_whitespace, normalize_text

_MAGIC = b"%PDF-"
_MAX_LEADING_WHITESPACE = 1024
_DAMAGED = "This file could not be read: the PDF is damaged or truncated."
_ENCRYPTED = "The PDF is encrypted; remove the password and upload it again."
_NO_TEXT = "The PDF contains no text that can be extracted; scanned documents need OCR first."


def parse_pdf(data: bytes) -> ParsedDocument:
    if not data[: _MAX_LEADING_WHITESPACE + len(_MAGIC)].lstrip().startswith(_MAGIC):
        raise RejectedFile("The file is named .pdf but is not a PDF.")
    reader = _open(data)
    try:
        title = _metadata_title(reader)
        pages = [normalize_text(page.extract_text()) for page in reader.pages]
    # Boundary around pypdf: besides PyPdfError it signals malformed input with assorted
    # built-in exceptions (KeyError, ValueError, AssertionError, ...).
    except Exception as exc:
        raise RejectedFile(_DAMAGED) from exc
    sections = [Section(text=text, page=number) for number, text in enumerate(pages, start=1) if text]
    if not sections:
        raise RejectedFile(_NO_TEXT)
    return ParsedDocument(title=title, kind="pdf", sections=sections)


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:  # boundary around pypdf, as in parse_pdf
        raise RejectedFile(_DAMAGED) from exc
    if encrypted:
        _decrypt_without_password(reader)
    return reader


def _decrypt_without_password(reader: PdfReader) -> None:
    # A PDF with only an owner password (restricting printing or copying) opens with an
    # empty user password; only a real user password makes its text unreadable.
    try:
        opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except PyPdfError as exc:  # unsupported algorithm or missing crypto dependency
        raise RejectedFile(_ENCRYPTED) from exc
    except Exception as exc:  # boundary around pypdf: a malformed encryption dictionary
        raise RejectedFile(_DAMAGED) from exc
    if not opened:
        raise RejectedFile(_ENCRYPTED)


def _metadata_title(reader: PdfReader) -> str:
    metadata = reader.metadata
    title = metadata.title if metadata is not None else None
    return collapse_whitespace(title) if isinstance(title, str) else ""
