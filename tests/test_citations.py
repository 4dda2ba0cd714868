"""Citations as models write them, checked against the passages that were given to the model."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.answer.citations import cited_numbers, drop_unknown_citations

KNOWN = {1, 2, 3}


@pytest.mark.parametrize(
    ("answer", "shown", "removed"),
    [
        # The forms, each once citing a number that was not given.
        ("Covered [ 7 ].", "Covered.", {7}),
        ("Covered [6-9].", "Covered.", {6, 7, 8, 9}),
        ("Covered [Source 7].", "Covered.", {7}),
        ("Covered [7; 8].", "Covered.", {7, 8}),
        ("Covered [^7].", "Covered.", {7}),
        ("Covered [Sources 1, 7].", "Covered [1].", {7}),
        ("Covered [1][7].", "Covered [1].", {7}),
        ("Covered 【7】.", "Covered.", {7}),
        ("Covered [source: 7] and [2].", "Covered and [2].", {7}),
        ("Covered [2–4].", "Covered [2][3].", {4}),
        ("Covered [1-3, 9].", "Covered [1][2][3].", {9}),
        ("Covered 【4:0†manual.pdf】 too.", "Covered too.", {4}),
        ("Covered (Source 5), mostly.", "Covered, mostly.", {5}),
        ("Covered [Passage #8] [1].", "Covered [1].", {8}),
        ("Covered [1, 2 and 7].", "Covered [1][2].", {7}),
    ],
)
def test_every_citation_form_is_checked(answer: str, shown: str, removed: set[int]) -> None:
    assert drop_unknown_citations(answer, KNOWN) == (shown, removed)


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ("Covered [ 1 ] and [Source 2].", "Covered [1] and [2]."),
        ("Covered [Sources 1, 2] and [1; 3].", "Covered [1][2] and [1][3]."),
        ("Covered [1-3] and [^2], 【1】.", "Covered [1][2][3] and [2], [1]."),
        ("Covered [1, 2].", "Covered [1][2]."),
        ("Covered [1][2].", "Covered [1][2]."),
        ("Covered [^1].\n\n[^1]: https://help.example.com", "Covered [1].\n\n[^1]: https://help.example.com"),
    ],
)
def test_known_citations_are_written_as_the_ui_links_them(answer: str, shown: str) -> None:
    assert drop_unknown_citations(answer, KNOWN) == (shown, set())


@pytest.mark.parametrize(
    "text", ["- [ ] to do", "[x] done", "the year [2024]", "see [the policy]", "a [b] c", "[v1.2]"]
)
def test_brackets_that_are_not_citations_are_left_alone(text: str) -> None:
    assert cited_numbers(text) == set()
    assert drop_unknown_citations(text, KNOWN) == (text, set())


def test_cited_numbers_reads_every_form() -> None:
    text = "A [1]. B [Source 2]. C [^3]. D 【4】. E [5-6]. F [7; 8]. G [source: 9]. H [ 10 ]."
    assert cited_numbers(text) == set(range(1, 11))


# Words and punctuation without digits, and citations of known and unknown numbers in every form.
_FILLER = st.text(alphabet="abc xyz.,;:-–[]()^【】†#\n", max_size=8)
_NUMBER = st.integers(min_value=1, max_value=40)
_FORMS = [
    "[{}]",
    "[ {} ]",
    "[^{}]",
    "【{}】",
    "[Source {}]",
    "[source: {}]",
    "[Sources {}, {}]",
    "[{}; {}]",
    "[{}-{}]",
    "[{}–{}]",
    "[{}, {} and {}]",
    "[{}][{}]",
    "(Source {})",
    "[Passage #{}]",
    "【{}†doc】",
]
_CITATION = st.sampled_from(_FORMS).flatmap(
    lambda form: st.lists(_NUMBER, min_size=form.count("{}"), max_size=form.count("{}")).map(
        lambda numbers: form.format(*numbers)
    )
)
_ANSWER = st.lists(st.one_of(_FILLER, _CITATION), max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(_ANSWER, st.sets(_NUMBER, max_size=6))
def test_a_planted_unknown_citation_never_survives(answer: str, known: set[int]) -> None:
    shown, removed = drop_unknown_citations(answer, known)
    assert cited_numbers(shown) <= known
    assert removed == cited_numbers(answer) - known
    # No number that was not given is left anywhere (the filler holds no digits).
    assert {int(n) for n in re.findall(r"\d+", shown)} <= known
    assert drop_unknown_citations(shown, known) == (shown, set())
