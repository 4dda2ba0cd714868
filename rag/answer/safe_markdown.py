"""Model output made safe to render as Markdown: no raw HTML, no images, links only to known URLs.

A document can carry instructions the model follows anyway. What it writes is then shown to a
support agent, so it must not be able to load a remote image (which leaks data in its URL the
moment it renders), inject HTML, or offer links other than those in the sources shown with it.
Code spans and blocks are left as they are: Markdown renders their contents as text.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

_CODE = re.compile(r"(```[\s\S]*?(?:```|\Z)|`[^`\n]*`)")
_IMAGE = re.compile(r"!\[([^\]\n]*)\](?:\([^)\n]*\)|\[[^\]\n]*\])")
_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:[^\n]*$", re.MULTILINE)
_BARE_URL = re.compile(r"(?<![\w/(`])((?:https?://|www\.)[^\s<>()\[\]`\"']+)", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+", re.IGNORECASE)


def safe_markdown(text: str, allowed_urls: Collection[str] = ()) -> str:
    """`text` with images reduced to their alt text, unknown links to their text, HTML escaped."""
    parts = _CODE.split(text)
    return "".join(part if i % 2 else _clean(part, allowed_urls) for i, part in enumerate(parts))


def known_urls(texts: Iterable[str]) -> set[str]:
    """The http(s) URLs written in these texts (the sources shown with an answer)."""
    return {url.rstrip(".,;:!?") for text in texts for url in _URL.findall(text)}


def _clean(text: str, allowed: Collection[str]) -> str:
    text = _IMAGE.sub(lambda m: f"[image: {m.group(1)}]" if m.group(1).strip() else "[image]", text)
    text = _LINK.sub(lambda m: m.group(0) if m.group(2) in allowed else m.group(1), text)
    text = _REFERENCE.sub("", text)
    # A URL the sources do not contain stays readable but cannot be clicked (or auto-linked).
    text = _BARE_URL.sub(lambda m: m.group(1) if m.group(1) in allowed else f"`{m.group(1)}`", text)
    return text.replace("<", "&lt;")
