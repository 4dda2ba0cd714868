"""What a file's first bytes say it is, to catch a file whose content does not match its name."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    description: str  # "a PDF document", for "... but is a PDF document"
    readers: frozenset[str]  # the parser kinds that read (or explain) this format themselves


_PDF = Format("a PDF document", frozenset({"pdf"}))
_ZIP = Format("a ZIP archive", frozenset({"docx"}))
_OLE = Format("an old Office document (.doc, .xls, .ppt)", frozenset({"docx"}))
_HTML = Format("an HTML page", frozenset({"html", "markdown", "text"}))
_MAGIC: tuple[tuple[int, bytes, Format], ...] = (
    (0, b"PK\x03\x04", _ZIP),
    (0, b"PK\x05\x06", _ZIP),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", _OLE),
    (0, b"\x89PNG\r\n\x1a\n", Format("a PNG image", frozenset())),
    (0, b"\xff\xd8\xff", Format("a JPEG image", frozenset())),
    (0, b"GIF87a", Format("a GIF image", frozenset())),
    (0, b"GIF89a", Format("a GIF image", frozenset())),
    (0, b"II*\x00", Format("a TIFF image", frozenset())),
    (0, b"MM\x00*", Format("a TIFF image", frozenset())),
    (0, b"\x1f\x8b", Format("a gzip archive", frozenset())),
    (0, b"7z\xbc\xaf\x27\x1c", Format("a 7-Zip archive", frozenset())),
    (0, b"Rar!\x1a\x07", Format("a RAR archive", frozenset())),
    (0, b"\xfd7zXZ\x00", Format("an xz archive", frozenset())),
    (0, b"\x7fELF", Format("a program (ELF)", frozenset())),
    (0, b"SQLite format 3\x00", Format("an SQLite database", frozenset())),
    (0, b"{\\rtf", Format("an RTF document", frozenset())),
)
_LEADING_SPACE = 1024
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)


def sniff_format(data: bytes) -> Format | None:
    """The format that `data` starts like, or None when it could be text or is not recognised."""
    for offset, magic, found in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return found
    head = data[: _LEADING_SPACE + 16].lstrip(b" \t\r\n\x0c\xef\xbb\xbf")
    if head.startswith(b"%PDF-"):
        return _PDF
    if _HTML_START.match(head):
        return _HTML
    return None


def mismatch_message(extension: str, kind: str, data: bytes) -> str | None:
    """Why a file named `*extension` (read by the `kind` parser) holds something else, if it does."""
    found = sniff_format(data)
    if found is None or kind in found.readers:
        return None
    return f"The file is named {extension} but is {found.description}; rename it or upload another file."
