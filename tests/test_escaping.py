"""Text from people, documents and models shown in Markdown renders as that text, nothing more.

The escape is checked with markdown-it-py (GFM-like: tables, strikethrough, raw HTML, autolinks),
then against the rewrites Streamlit's renderer makes after parsing, then on the pages themselves.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from db.models import Answer, Conversation
from rag.console import Console
from rag.text import escape_markdown
from rag.text.literal_markdown import WORD_JOINER
from tests.test_pages import USER, open_page, pages_console, run

HOSTILE = "**bold** ![x](https://evil.example/p.png) [click](https://evil.example) <b>hi</b> :red[alarm]"
HOSTILE_FILE = "[x](https://evil.example).md"


def gfm() -> MarkdownIt:
    md = MarkdownIt("gfm-like")
    # As GitHub and Streamlit do: links from `www.`, `http(s)://` and emails only, not `readme.md`.
    assert md.linkify is not None
    md.linkify.set({"fuzzy_link": False})
    return md


MD = gfm()

# What Streamlit's renderer rewrites in text already parsed (escapes resolved): GFM autolinks
# (mdast-util-gfm-autolink-literal), emoji (remark-emoji), its icon and logo shortcodes, arrows.
STREAMLIT_REWRITES = [
    re.compile(r"(https?://|www(?=\.))[-.\w]+", re.IGNORECASE | re.ASCII),
    re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+", re.ASCII),
    re.compile(r":\+1:|:-1:|:[\w-]+:", re.ASCII),
    re.compile(r":material[_/]\w+:", re.ASCII),
    re.compile(r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)"),
]


def rendered_text(markdown: str) -> str:
    """The text markdown-it renders `markdown` as; fails on anything but one plain paragraph."""
    tokens = MD.parse(markdown)
    if not tokens:
        return ""
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], markdown
    text = ""
    for child in tokens[1].children or []:
        assert child.type in ("text", "hardbreak"), (child.type, markdown)
        text += child.content if child.type == "text" else "\n"
    return text


def as_parsed(text: str) -> str:
    """`text` as any CommonMark parser reads it: one kind of line ending, no NUL."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")


@settings(max_examples=400, deadline=None)
@given(st.text())
@example(HOSTILE)
@example(HOSTILE_FILE)
@example("    indented\n\n- item\n1. one\n# heading\n> quote\n| a | b |\n|---|---|\n```\ncode\n```\n")
@example("www.evil.example https://evil.example me@evil.example :smile: :material/home: :streamlit: a -> b")
@example("$x^2$ ~~gone~~ <https://evil.example> &amp; [ref]: https://evil.example\n[ref]")
@example("\n trailing  \n\n\u3000")
def test_escaped_text_is_one_paragraph_of_exactly_the_text(text: str) -> None:
    shown = rendered_text(escape_markdown(text))
    assert shown.replace(WORD_JOINER, "") == as_parsed(text).replace(WORD_JOINER, "")
    for rewrite in STREAMLIT_REWRITES:
        assert not rewrite.search(shown), (rewrite.pattern, shown)


@given(st.text())
@example(HOSTILE)
def test_every_markdown_character_reaches_the_parser_escaped(text: str) -> None:
    """Also what markdown-it-py lacks plugins for (`$` maths, `:name[...]` directives)."""
    escaped = escape_markdown(text)
    i = 0
    while i < len(escaped):
        if escaped[i] == "\\":
            assert escaped[i + 1] in string.punctuation or escaped[i + 1] == "\n", escaped
            i += 2
        else:
            assert escaped[i] not in string.punctuation, escaped
            i += 1


def test_the_hostile_question_shows_its_characters_not_a_link_or_image() -> None:
    html = MD.render(escape_markdown(HOSTILE))
    assert "<a " not in html and "<img" not in html and "<strong>" not in html and "<b>" not in html
    assert html.replace(WORD_JOINER, "") == (
        "<p>**bold** ![x](https://evil.example/p.png) [click](https://evil.example) "
        "&lt;b&gt;hi&lt;/b&gt; :red[alarm]</p>\n"
    )


# The pages themselves: hostile text planted in the database comes out escaped.


@pytest.fixture
def console(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    yield from pages_console(database_url, tmp_path / "data", monkeypatch)


def add_question(console: Console, question: str, *, user: str = "agent@example.com") -> None:
    """A question asked today that the assistant could not answer: it is listed as unanswered."""
    with console.engine.begin() as conn:
        conn.execute(
            sa.insert(Answer).values(
                knowledge_base_id=console.kb.id, question=question, answer="I don't know.", answered=False,
                answer_mode="offline", model="extractive", embedding_model="all-MiniLM-L6-v2",
                user_name=user, total_ms=100, state="done",
            )
        )  # fmt: skip


def test_unanswered_page_shows_an_agents_question_as_text(console: Console) -> None:
    add_question(console, HOSTILE)
    add_question(console, HOSTILE)  # the biggest group: the one chosen at first
    add_question(console, "How do I export to Excel?")
    at = open_page("pages/analytics_unanswered.py")
    assert f"- {escape_markdown(HOSTILE)}" in [m.value for m in at.markdown]
    assert not [m.value for m in at.markdown if "https://evil" in m.value or "](" in m.value]


def test_sidebar_conversation_titles_are_text(console: Console) -> None:
    with console.engine.begin() as conn:
        conn.execute(sa.insert(Conversation).values(user_name=USER, title=HOSTILE))
    at = open_page("pages/chat.py")
    assert any(b.label.startswith(escape_markdown(HOSTILE)) for b in at.sidebar.button)  # then the date
    assert HOSTILE not in [b.label for b in at.sidebar.button]


def test_an_uploaded_file_name_is_text_in_the_queued_message(console: Console) -> None:
    at = open_page("pages/documents.py")
    at.file_uploader[0].set_value([(HOSTILE_FILE, b"# Notes\n\nSome text.", "text/markdown")])
    run(next(b for b in at.button if b.label == "Upload and index").click())
    [queued] = [s.value for s in at.success]
    assert queued.startswith(f"Queued 1 file: {escape_markdown(HOSTILE_FILE)}. ")
    assert "](" not in queued
