"""Bytes to text for the text-based formats: UTF-8 first, then a detected encoding."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

from rag.errors import RejectedFile

# UTF-32 before UTF-16: the UTF-32 LE mark begins with the UTF-16 LE one.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F; tab, newlines and form feed are text.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
# Real text has almost no control characters; binary data read as cp1252 has about 12 %.
_MAX_CONTROL_SHARE = 0.02
_CP1252_CHAOS_MARGIN = 0.1


def decode_text(data: bytes, *, extension: str) -> str:
    """Decode an uploaded text file, or reject it as binary."""
    text = _decode(data, extension)
    # A regular expression, not a loop over characters: this runs over files of tens of megabytes.
    controls = len(text) - len(_CONTROLS.sub("", text))
    if controls > _MAX_CONTROL_SHARE * len(text):
        raise _binary(extension)
    return text


def _decode(data: bytes, extension: str) -> str:
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise _binary(extension) from exc
    if b"\x00" in data:
        raise _binary(extension)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    candidates = charset_normalizer.from_bytes(data)
    best = candidates.best()
    if best is None:
        raise _binary(extension)
    # Short Western European text is often guessed as a Baltic or DOS code page; cp1252, the
    # commonest legacy encoding, wins whenever it reads the bytes about as well.
    for match in candidates:
        if (
            match.encoding == "cp1252"
            and match.coherence >= best.coherence
            and match.chaos <= best.chaos + _CP1252_CHAOS_MARGIN
        ):
            return str(match)
    return str(best)


def _binary(extension: str) -> RejectedFile:
    return RejectedFile(f"The file is named {extension} but contains binary data, not text.")
