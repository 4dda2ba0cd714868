"""Model output made safe to render as Markdown: no raw HTML, no images, links only to known URLs.

A document can carry instructions the model follows anyway. What it writes is then shown to a
support agent, so it must not be able to load a remote image (which leaks data in its URL the
moment it renders), inject HTML, or offer links other than those in the sources shown with it.

The answer is parsed as the renderer will read it (CommonMark with GFM tables, strikethrough and
autolinked bare URLs) and written again from the parse: text escaped so it cannot form markup,
code kept as code, images reduced to their alt text, links kept only to the sources' URLs, and
any other URL-like word put in a code span, where no renderer links it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

_PARSER = MarkdownIt("gfm-like", {"html": False})  # raw HTML stays text; bare URLs become links
_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+", re.IGNORECASE)
# Characters that could start markup anywhere in a line. Brackets need no escape but where a link
# or a definition could follow (no reference definition is ever written out, so `[1][2]` stays
# text); a `!` before a `[` would make an image (also before a kept link: see `open_end`).
_INLINE_MARKUP = re.compile(r"[\\`*_~|#$<]|&(?=#?\w+;)|\](?=[(:])|!(?=\[)")
_IN_LABEL = re.compile(r"[\\`*_!~|#$<\[\]]|&(?=#?\w+;)")  # inside a kept link's text: every bracket
_ESCAPABLE = re.compile(r"[\\`*_!~|#$<\[\]&]")
_LINE_START = re.compile(r"^(?:[>+=-]|(\d+)[.)])")
# What GFM autolinks in plain text besides the parser's own matches: schemes, www., e-mail addresses.
_URL_LIKE = re.compile(r"://|^//|www\.|mailto:|xmpp:|[\w.+-]@[\w-]+\.\w", re.IGNORECASE)
_WORDS = re.compile(r"\S+")
_AROUND_URL = re.compile(r"([(\"']*)(.+?)([.,;:!?)\"']*)", re.DOTALL)  # `(`, `).` stay text
_UNSAFE_IN_LINK = re.compile(r"[\s()<>\\]|&(?=#?\w+;)")  # would end or change the written destination
_ALIGN = {"text-align:left": ":--", "text-align:right": "--:", "text-align:center": ":-:"}


@dataclass(frozen=True)
class _Context:
    allowed: frozenset[str]
    in_link: bool = False  # inside a kept link: no further links, and its text is not defused
    in_table: bool = False  # `|` must be escaped even inside code


def safe_markdown(text: str, allowed_urls: Collection[str] = ()) -> str:
    """`text` rebuilt with images reduced to their alt text, unknown links to their text, HTML escaped."""
    allowed = frozenset(allowed_urls) | {_PARSER.normalizeLink(url) for url in allowed_urls}
    root = SyntaxTreeNode(_PARSER.parse(text))
    return "\n".join(_blocks(root.children, _Context(allowed)))


def known_urls(texts: Iterable[str]) -> set[str]:
    """The http(s) URLs written in these texts (the sources shown with an answer)."""
    return {url.rstrip(".,;:!?") for text in texts for url in _URL.findall(text)}


def _blocks(nodes: list[SyntaxTreeNode], ctx: _Context, *, tight: bool = False) -> list[str]:
    lines: list[str] = []
    for node in nodes:
        block = _block(node, ctx)
        if block and lines and not tight:
            lines.append("")
        lines.extend(block)
    return lines


def _block(node: SyntaxTreeNode, ctx: _Context) -> list[str]:
    if node.type == "paragraph":
        return _paragraph(_inline(node.children, ctx))
    if node.type == "heading":
        title = _inline(node.children, ctx).replace("\\\n", " ").replace("\n", " ")
        return [f"{'#' * int(node.tag[1])} {title}".rstrip()]
    if node.type in ("bullet_list", "ordered_list"):
        return _list(node, ctx)
    if node.type == "blockquote":
        return [f"> {line}" if line else ">" for line in _blocks(node.children, ctx)]
    if node.type in ("fence", "code_block"):
        return _fence(node.content, node.info)
    if node.type == "hr":
        return ["---"]
    if node.type == "table":
        return _table(node, ctx)
    return _blocks(node.children, ctx) if node.children else _paragraph(_text(node.content, ctx))


def _paragraph(text: str) -> list[str]:
    lines = (line.lstrip(" \t") for line in text.split("\n"))
    return [_LINE_START.sub(_escape_line_start, line) for line in lines if line]


def _escape_line_start(match: re.Match[str]) -> str:
    digits = match.group(1)
    return f"{digits}\\{match.group(0)[-1]}" if digits else f"\\{match.group(0)}"


def _list(node: SyntaxTreeNode, ctx: _Context) -> list[str]:
    paragraphs = [p for item in node.children for p in item.children if p.type == "paragraph"]
    tight = all(p.hidden for p in paragraphs)
    start = int(node.attrs.get("start", 1))
    lines: list[str] = []
    for i, item in enumerate(node.children):
        marker = f"{start + i}{item.markup}" if node.type == "ordered_list" else item.markup
        body = _blocks(item.children, ctx, tight=tight)
        if lines and not tight:
            lines.append("")
        lines.append(f"{marker} {body[0]}" if body else marker)
        lines.extend(" " * (len(marker) + 1) + line if line else "" for line in body[1:])
    return lines


def _fence(code: str, info: str) -> list[str]:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    language = re.match(r"[\w+#.-]*", info.strip())
    body = code.removesuffix("\n").split("\n") if code else []
    return [fence + (language.group(0) if language else ""), *body, fence]


def _table(node: SyntaxTreeNode, ctx: _Context) -> list[str]:
    ctx = _Context(ctx.allowed, ctx.in_link, in_table=True)
    rows = [row for section in node.children for row in section.children]
    lines = ["| " + " | ".join(_inline(cell.children, ctx) for cell in row.children) + " |" for row in rows]
    aligns = [_ALIGN.get(str(cell.attrs.get("style", "")), "---") for cell in rows[0].children]
    return [lines[0], "| " + " | ".join(aligns) + " |", *lines[1:]]


def _inline(nodes: list[SyntaxTreeNode], ctx: _Context) -> str:
    """Inline markup rebuilt; text that ends up side by side (a link reduced to its text, an
    image's placeholder) is escaped and searched for URLs as one piece, as a renderer reads it."""
    pieces: list[str] = []
    text: list[str] = []
    for is_text, piece in _segments(nodes, ctx):
        if is_text:
            text.append(piece)
            continue
        if text:
            pieces.append(_text("".join(text), ctx, open_end=piece.startswith("[")))
            text.clear()
        pieces.append(piece)
    if text:
        pieces.append(_text("".join(text), ctx))
    joined = ""
    for piece in pieces:
        if joined[-1:] == piece[:1] == "`":  # two code spans side by side would read as one fence
            joined += " "
        joined += piece
    return joined


def _segments(nodes: list[SyntaxTreeNode], ctx: _Context) -> Iterator[tuple[bool, str]]:
    """(True, raw text) or (False, Markdown written out) for each part of these inline nodes."""
    for node in nodes:
        kind = node.type
        if kind == "text":
            yield True, node.content
        elif kind == "softbreak":
            yield False, "\n"
        elif kind == "hardbreak":
            yield False, "\\\n"
        elif kind == "code_inline":
            yield False, _code(node.content, ctx)
        elif kind in ("em", "strong", "s"):
            yield False, node.markup
            yield from _segments(node.children, ctx)
            yield False, node.markup
        elif kind == "image":
            alt = _plain(node.children).strip()
            yield True, f"[image: {alt}]" if alt else "[image]"
        elif kind == "link" and _kept(str(node.attrs.get("href", "")), ctx):
            label = _inline(node.children, _Context(ctx.allowed, in_link=True, in_table=ctx.in_table))
            yield False, f"[{label}]({node.attrs['href']})"
        else:  # a link reduced to its text, the inline content of a block, anything unforeseen
            yield True, node.content if not node.children else ""
            yield from _segments(node.children, ctx)


def _kept(href: str, ctx: _Context) -> bool:
    return not ctx.in_link and href in ctx.allowed and not _UNSAFE_IN_LINK.search(href)


def _plain(nodes: list[SyntaxTreeNode]) -> str:
    """The text of an image's alt: what it would say, with no markup."""
    return "".join(
        " " if n.type in ("softbreak", "hardbreak") else n.content if not n.children else _plain(n.children)
        for n in nodes
    )


def _text(text: str, ctx: _Context, *, open_end: bool = False) -> str:
    """Text escaped so it renders as itself; URL-like words (when not in a kept link) as code.

    `open_end`: a kept link follows, so a `!` at the end would make it an image.
    """
    text = re.sub(r"\r\n?|\n", " ", text)  # a decoded &#10; must not start a new block
    if ctx.in_link:
        return _IN_LABEL.sub(_escaped, text)
    if not (_URL_LIKE.search(text) or _linkify_pretest(text)):
        return _escape(text, open_end=open_end)
    return _WORDS.sub(lambda m: _word(m.group(0), ctx, open_end=open_end and m.end() == len(text)), text)


def _word(word: str, ctx: _Context, *, open_end: bool) -> str:
    """A word as text, or, when an autolinker could link it, as code (its punctuation outside)."""
    if not _linkable(word):
        return _escape(word, open_end=open_end)
    around = _AROUND_URL.fullmatch(word)
    lead, core, trail = around.groups() if around else ("", word, "")
    return f"{_escape(lead, open_end=False)}{_code(core, ctx)}{_escape(trail, open_end=open_end)}"


def _linkable(word: str) -> bool:
    return (
        bool(_URL_LIKE.search(word)) or _autolinked("test", word) or _autolinked("test", _cut_at_markup(word))
    )


def _linkify_pretest(text: str) -> bool:
    return _autolinked("pretest", text) or _autolinked("pretest", _cut_at_markup(text))


def _autolinked(check: Literal["test", "pretest"], text: str) -> bool:
    """The parser's own autolinker (linkify-it): `test` finds a link, `pretest` may find one."""
    linkify = _PARSER.linkify  # always set: the gfm-like preset turns linkify on
    return linkify is not None and bool(getattr(linkify, check)(text))


def _cut_at_markup(text: str) -> str:
    """`text` as an autolinker sees it once escaped: escaped characters split it into pieces."""
    return _ESCAPABLE.sub(" ", text)


def _escape(text: str, *, open_end: bool) -> str:
    escaped = _INLINE_MARKUP.sub(_escaped, text)
    return escaped[:-1] + "\\!" if open_end and escaped.endswith("!") else escaped


def _escaped(match: re.Match[str]) -> str:
    return "&lt;" if match.group(0) == "<" else f"\\{match.group(0)}"


def _code(code: str, ctx: _Context) -> str:
    if ctx.in_table:
        code = code.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * (longest + 1)
    padded = code[:1] == "`" or code[-1:] == "`" or (code[:1] == code[-1:] == " " and code.strip(" "))
    return f"{fence} {code} {fence}" if padded else f"{fence}{code}{fence}"
