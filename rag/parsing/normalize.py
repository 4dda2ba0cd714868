"""Plain-text clean-up shared by every parser: one newline style, no control characters."""

from __future__ import annotations

import re

_LINE_BREAKS = re.compile(r"\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
# NUL and other C0/C1 controls except tab and newline; lone surrogates; stray byte-order marks.
_UNWANTED = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff]")
_BLANKS = re.compile(r"[ \t]+")
_EXTRA_BLANK_LINES = re.compile(r"\n{3,}")
_INDENT = re.compile(r"^[ \t]*")


def normalize_text(text: str, *, keep_indent: bool = False) -> str:
    """Return `text` with `\\n` newlines, runs of spaces/tabs collapsed and paragraph breaks kept.

    With `keep_indent`, leading indentation survives (code blocks and nested lists in Markdown).
    """
    text = _UNWANTED.sub("", _LINE_BREAKS.sub("\n", text))
    lines = [_normalize_line(line, keep_indent) for line in text.split("\n")]
    return _EXTRA_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


def collapse_whitespace(text: str) -> str:
    """All whitespace, newlines included, as single spaces: for headings, titles and cells."""
    return " ".join(text.split())


def _normalize_line(line: str, keep_indent: bool) -> str:
    if not keep_indent:
        return _BLANKS.sub(" ", line).strip()
    indent = _INDENT.match(line)
    prefix = indent.group() if indent else ""
    return prefix + _BLANKS.sub(" ", line[len(prefix) :]).rstrip()
