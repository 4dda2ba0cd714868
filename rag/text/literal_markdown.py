"""Any text made into Markdown that renders as exactly that text: names, questions, titles, errors.

Backslash escapes stop what the parser would read (emphasis, links, images, HTML, headings, lists,
tables, `$` maths, `:red[...]` directives). Some renderers also rewrite the text after parsing,
where escapes are gone: GitHub's autolinks (`www.`, `https://`, emails), Streamlit's emoji,
`:material/...:` and `:streamlit:` shortcodes and its `->` arrows. An invisible word joiner
(U+2060) inside each of those patterns breaks them. Line breaks stay line breaks.
"""

from __future__ import annotations

import string

WORD_JOINER = "\u2060"
_PUNCTUATION = frozenset(string.punctuation)  # all of it may be escaped in CommonMark
_TYPOGRAPHIC = frozenset("<->=~")  # "->", "<=", "~=", "--": replaced by arrows and signs
_HARD_BREAK = "\\\n"


def escape_markdown(text: str) -> str:
    """`text` as Markdown that renders literally (in Streamlit, and any CommonMark/GFM renderer).

    Line endings become hard line breaks; a line that is empty or starts or ends with whitespace is
    guarded by word joiners, so that no indentation makes a code block and no space is dropped.
    """
    if not text:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return _HARD_BREAK.join(_line(line) for line in lines)


def _line(line: str) -> str:
    out: list[str] = []
    previous = ""
    for i, char in enumerate(line):
        if _breaks_pattern(line, i, previous):
            out.append(WORD_JOINER)
        out.append("\\" + char if char in _PUNCTUATION else char)
        previous = char
    escaped = "".join(out)
    if not line or line[0].isspace() or line[0] == "\ufeff":
        escaped = WORD_JOINER + escaped
    if line and (line[-1].isspace() or line[-1] == "\ufeff"):
        escaped += WORD_JOINER
    return escaped


def _breaks_pattern(line: str, i: int, previous: str) -> bool:
    """Whether a word joiner goes before `line[i]`: after `:` and `@`, between `//`, between
    `www` and `.`, and between two arrow-making symbols."""
    char = line[i]
    return (
        previous in (":", "@")
        or (previous == "/" and char == "/")
        or (char == "." and line[max(0, i - 3) : i].lower() == "www")
        or (previous in _TYPOGRAPHIC and char in _TYPOGRAPHIC)
    )
