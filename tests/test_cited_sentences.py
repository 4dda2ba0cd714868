"""Which passage sentences an answer cites, and how they are highlighted without unescaping anything."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from rag.answer.cited_sentences import HIGHLIGHT, Span, cited_spans, citing_sentences, highlighted_markdown
from rag.text.literal_markdown import WORD_JOINER
from tests.test_escaping import HOSTILE, MD, STREAMLIT_REWRITES, as_parsed, rendered_text

OPEN, CLOSE = f":{HIGHLIGHT}[", "]"

REFUNDS = (
    "Refunds are handled by the billing team. "
    + "Our warehouse in Lyon ships orders every weekday morning. " * 12
    + "Opened headphones can be returned within 14 days of delivery for a full refund. "
    "Gift cards cannot be refunded."
)


def test_each_number_gets_the_sentences_that_cite_it() -> None:
    answer = "You have 14 days [1]. Gift cards are final [2][3]. Shipping is free."
    assert citing_sentences(answer) == {
        1: ["You have 14 days [1]."],
        2: ["Gift cards are final [2][3]."],
        3: ["Gift cards are final [2][3]."],
    }


def test_an_answer_with_no_text_cites_nothing() -> None:
    assert citing_sentences("") == {} == citing_sentences("  ")


def test_a_citation_after_the_full_stop_belongs_to_the_sentence_before() -> None:
    # The offline answerer writes "sentence. [n] Next sentence. [m]".
    answer = "Opened headphones can be returned within 14 days. [1] Gift cards cannot be refunded. [2]"
    assert citing_sentences(answer) == {
        1: ["Opened headphones can be returned within 14 days."],
        2: ["Gift cards cannot be refunded."],
    }


def test_the_cited_sentence_is_found_past_the_old_500_character_snippet() -> None:
    [span] = cited_spans(REFUNDS, ["Opened headphones may be returned within 14 days [1]."])
    assert span.start > 500
    assert REFUNDS[span.start : span.end] == (
        "Opened headphones can be returned within 14 days of delivery for a full refund."
    )


def test_each_citing_sentence_picks_its_own_best_match_in_passage_order() -> None:
    spans = cited_spans(REFUNDS, ["Gift cards are not refundable.", "Headphones: returned within 14 days."])
    assert [REFUNDS[s.start : s.end][:12] for s in spans] == ["Opened headp", "Gift cards c"]


def test_nothing_is_highlighted_when_no_sentence_shares_enough_words() -> None:
    assert cited_spans(REFUNDS, ["Dark mode is on the roadmap [1]."]) == []
    assert cited_spans(REFUNDS, []) == []
    assert cited_spans("", ["Anything at all."]) == []


def test_highlighted_text_is_escaped_first_then_wrapped() -> None:
    text = f"Intro. {HOSTILE} is the rule. Outro."
    start = text.index(HOSTILE)
    shown = highlighted_markdown(text, [Span(start, start + len(HOSTILE) + len(" is the rule."))])
    html = MD.render(shown)
    assert "<a " not in html and "<img" not in html and "<strong>" not in html and "<b>" not in html
    # One wrapper around the escaped sentence; the hostile `:red[` stays an escaped literal.
    assert shown.count(OPEN) == 1 and ":red[" not in shown.replace(OPEN, "")
    assert rendered_text(shown).replace(WORD_JOINER, "") == (
        f"Intro. {OPEN}{HOSTILE} is the rule.{CLOSE} Outro."
    )


def test_a_highlight_across_lines_is_wrapped_on_each_line() -> None:
    text = "First line\nsecond line.\n\nNext paragraph."
    shown = highlighted_markdown(text, [Span(0, text.index("."))])
    assert rendered_text(shown).replace(WORD_JOINER, "") == (
        f"{OPEN}First line{CLOSE}\n{OPEN}second line{CLOSE}.\n\nNext paragraph."
    )


@st.composite
def text_and_spans(draw: st.DrawFn) -> tuple[str, list[Span]]:
    text = draw(st.text())
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=6)))
    spans = [Span(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a]
    return text, spans


@given(text_and_spans())
@example((HOSTILE, [Span(0, 8), Span(9, 40)]))
@example(("see https://evil.example now", [Span(0, 8)]))
@example(("a :smile: b", [Span(0, 4)]))
@example(("x -> y", [Span(0, 3)]))
def test_highlighting_never_lets_document_text_become_markdown(case: tuple[str, list[Span]]) -> None:
    """Strip the wrappers from the rendered text and exactly the document's text is left."""
    text, spans = case
    shown = highlighted_markdown(text, spans)
    rendered = rendered_text(shown)
    unwrapped = _unescape_wrappers(shown)
    assert rendered_text(unwrapped).replace(WORD_JOINER, "") == as_parsed(text).replace(WORD_JOINER, "")
    assert rendered.count(OPEN) == shown.count(OPEN)  # every wrapper is ours, none from the text
    for rewrite in STREAMLIT_REWRITES:
        for piece in rendered.split(OPEN):
            assert not rewrite.search(piece.replace(CLOSE, WORD_JOINER)), (rewrite.pattern, rendered)


def _unescape_wrappers(markdown: str) -> str:
    """The markdown with our wrappers removed (escaped text never contains an unescaped `]`)."""
    out, i = [], 0
    while i < len(markdown):
        if markdown.startswith(OPEN, i):
            i += len(OPEN)
        elif markdown[i] == "\\":
            out.append(markdown[i : i + 2])
            i += 2
        elif markdown[i] == CLOSE:
            i += 1
        else:
            out.append(markdown[i])
            i += 1
    return "".join(out)
