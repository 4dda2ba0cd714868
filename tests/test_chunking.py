"""Chunker properties: no chunk over the limit, text covered in order, overlap as configured."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.parsing.document import Section
from rag.text.chunking import chunk_sections, joined_text
from rag.text.sentences import split_sentences
from rag.text.tokens import count_tokens, encoding

WORDS = [
    "refund",
    "policy",
    "customer",
    "days",
    "annual",
    "plan",
    "the",
    "a",
    "within",
    "café",
    "ünïcode",
    "42",
]


@st.composite
def sentences(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=40))
    return " ".join(words).capitalize() + draw(st.sampled_from([".", "!", "?", ""]))


@st.composite
def documents(draw: st.DrawFn) -> list[Section]:
    n = draw(st.integers(1, 4))
    return [
        Section(" ".join(draw(st.lists(sentences(), min_size=1, max_size=25))), page=i + 1) for i in range(n)
    ]


@settings(max_examples=60, deadline=None)
@given(documents(), st.integers(30, 120), st.integers(0, 25))
def test_chunks_stay_under_the_limit_and_cover_the_text_in_order(
    sections: list[Section], max_tokens: int, overlap: int
) -> None:
    text = joined_text(sections)
    chunks = chunk_sections(sections, max_tokens=max_tokens, overlap=overlap)
    assert all(count_tokens(c.text) == c.token_count <= max_tokens for c in chunks)
    assert all(text[c.char_start : c.char_end] == c.text for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    starts = [c.char_start for c in chunks]
    assert starts == sorted(set(starts))
    # Every non-blank character belongs to some chunk.
    covered = [False] * len(text)
    for c in chunks:
        covered[c.char_start : c.char_end] = [True] * (c.char_end - c.char_start)
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))


@settings(max_examples=40, deadline=None)
@given(documents(), st.integers(40, 120), st.integers(1, 25))
def test_consecutive_chunks_overlap_by_at_most_the_configured_tokens(
    sections: list[Section], max_tokens: int, overlap: int
) -> None:
    text = joined_text(sections)
    chunks = chunk_sections(sections, max_tokens=max_tokens, overlap=overlap)
    # Count the shared tokens as the document was tokenised: a slice re-encoded alone can differ.
    _, offsets = encoding().decode_with_offsets(encoding().encode(text, disallowed_special=()))
    for before, after in itertools.pairwise(chunks):
        assert text[before.char_end : after.char_start].strip() == ""  # never a gap, only whitespace
        shared = [o for o in offsets if after.char_start <= o < before.char_end]
        assert len(shared) <= overlap


def test_overlap_repeats_the_end_of_the_previous_chunk() -> None:
    sentence = "The annual plan can be refunded within thirty days of purchase by the customer."
    sections = [Section(" ".join(f"{sentence[:-1]} number {i}." for i in range(60)))]
    chunks = chunk_sections(sections, max_tokens=100, overlap=30)
    assert len(chunks) > 3
    for before, after in itertools.pairwise(chunks):
        shared = before.text[after.char_start - before.char_start :]
        assert shared and after.text.startswith(shared)
        assert 5 <= count_tokens(shared) <= 30


def test_no_overlap_when_overlap_is_zero() -> None:
    sections = [Section(" ".join(f"Sentence number {i} is here." for i in range(200)))]
    chunks = chunk_sections(sections, max_tokens=50, overlap=0)
    assert all(a.char_end <= b.char_start for a, b in itertools.pairwise(chunks))


def test_chunks_end_on_sentence_boundaries_when_they_can() -> None:
    sections = [
        Section(" ".join(f"This is sentence {i} about refunds and annual plans." for i in range(100)))
    ]
    chunks = chunk_sections(sections, max_tokens=80, overlap=15)
    assert all(c.text.endswith(".") for c in chunks)
    assert all(re.match(r"This is sentence \d+", c.text) for c in chunks)


def test_a_sentence_longer_than_the_limit_is_cut_by_tokens() -> None:
    sections = [Section(" ".join(["word"] * 1000))]
    chunks = chunk_sections(sections, max_tokens=100, overlap=10)
    assert len(chunks) >= 10
    assert all(c.token_count <= 100 for c in chunks)


def test_chunk_location_names_pages_and_heading() -> None:
    sections = [
        Section("Refunds. " * 30, page=1, heading="Refunds"),
        Section("Shipping takes three days. " * 30, page=2, heading="Shipping"),
    ]
    chunks = chunk_sections(sections, max_tokens=60, overlap=10)
    assert chunks[0].page_start == 1 and chunks[0].heading == "Refunds"
    assert chunks[-1].page_end == 2 and chunks[-1].heading == "Shipping"
    spanning = [c for c in chunks if c.page_start != c.page_end]
    assert all(c.page_start == 1 and c.page_end == 2 for c in spanning)


def test_special_tokens_are_ordinary_text() -> None:
    chunks = chunk_sections([Section("Before <|endoftext|> after. " * 5)], max_tokens=50, overlap=5)
    assert "<|endoftext|>" in chunks[0].text


def test_empty_sections_make_no_chunks() -> None:
    assert chunk_sections([Section("   ")], max_tokens=50, overlap=5) == []


def test_overlap_must_be_smaller_than_the_window() -> None:
    with pytest.raises(ValueError, match="overlap < max_tokens"):
        chunk_sections([Section("text")], max_tokens=50, overlap=50)


def test_a_table_section_is_never_joined_to_its_neighbours() -> None:
    sections = [
        Section("Plans are billed monthly.", heading="Pricing"),
        Section("plan: Team | price: 39\n\nplan: Business | price: 99", heading="Pricing", kind="table"),
        Section("plan: Enterprise | price: 299", heading="Pricing", kind="table"),
        Section("Prices exclude VAT.", heading="Pricing"),
    ]
    text = joined_text(sections)
    chunks = chunk_sections(sections, max_tokens=200, overlap=40)
    assert [c.text for c in chunks] == [s.text for s in sections]
    assert all(text[c.char_start : c.char_end] == c.text for c in chunks)
    assert [c.position for c in chunks] == [0, 1, 2, 3]


def test_empty_text_has_no_sentences() -> None:
    assert split_sentences("") == [] and split_sentences("  \n ") == []
