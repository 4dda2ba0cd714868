"""The parse worker's messages: plain JSON and bytes, every parsed shape carried whole, and bounded."""

from __future__ import annotations

import json
import os
import pickle
import struct

import pytest

from rag.parsing import ParsedDocument, Section, frames, parse_document
from rag.parsing.html import HIDDEN_TEXT_REMOVED
from rag.parsing.sandbox import ParseLimits, parse_isolated
from tests.sample_files import (
    Heading,
    Table,
    make_csv,
    make_docx,
    make_html,
    make_markdown,
    make_pdf,
    make_text,
)

PRICES = [["plan", "monthly_price_usd"], ["Team", "39"], ["Business", "99"]]
SAMPLES = {
    "guide.pdf": make_pdf(["Page one: shipping.", "Page two: refunds."], title="Guide"),
    "plans.docx": make_docx([Heading("Plans"), "Our plans.", Table(PRICES)], title="Plans"),
    "plans.html": make_html(
        "<h1>Plans</h1><p style='display:none'>hidden</p><table><tr><th>plan</th><th>monthly_price_usd</th></tr>"
        "<tr><td>Team</td><td>39</td></tr><tr><td>Business</td><td>99</td></tr></table>",
        title="Plans",
    ),
    "prices.csv": make_csv(PRICES),
    "faq.md": make_markdown([("Refunds", "Within 14 days."), ("Shipping", "Three days.")]),
    "notes.txt": make_text(["Notes — ünïcödé, 日本語, emoji 🙂.", "Second paragraph."]),
}


def _round_trip(doc: ParsedDocument) -> ParsedDocument:
    return ParsedDocument.from_json(frames.decode_json(frames.encode_json(doc.to_json())))


@pytest.mark.parametrize("filename", SAMPLES)
def test_every_parsed_shape_survives_the_trip(filename: str) -> None:
    doc = parse_document(filename, SAMPLES[filename])
    assert _round_trip(doc) == doc


def test_the_samples_cover_pages_headings_tables_and_flags() -> None:
    docs = [parse_document(name, data) for name, data in SAMPLES.items()]
    sections = [s for d in docs for s in d.sections]
    assert {s.kind for s in sections} == {"text", "table"}
    assert any(s.page == 2 for s in sections) and any(s.heading for s in sections)
    assert any("plan: Team" in s.text for s in sections if s.kind == "table")  # rows carry their header
    assert any(HIDDEN_TEXT_REMOVED in d.flags for d in docs)


def test_a_document_parsed_in_the_sandbox_equals_one_parsed_here() -> None:
    limits = ParseLimits(timeout_s=10, memory_mb=200)
    for filename, data in SAMPLES.items():
        assert parse_isolated(filename, data, limits=limits) == parse_document(filename, data)


def test_text_json_cannot_encode_directly_still_travels() -> None:
    doc = ParsedDocument(title="\ud800 lone surrogate", kind="text", sections=[Section("nul \0 and \u2028")])
    assert _round_trip(doc) == doc


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], r"a document with exactly the fields \['flags', 'kind', 'sections', 'title'\]"),
        ({"title": "t", "kind": "text", "sections": {}, "flags": []}, "sections to be a list"),
        ({"title": None, "kind": "text", "sections": [], "flags": []}, "title to be a string"),
        ({"title": "t", "kind": "", "sections": [], "flags": []}, "kind to be a string of 1 to 20"),
        ({"title": "t", "kind": "text", "sections": ["text"], "flags": []}, "a section with exactly"),
    ],
)
def test_a_document_of_the_wrong_shape_is_refused(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ParsedDocument.from_json(data)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"text": "t", "page": 0, "heading": None, "kind": "text"}, "page to be a positive integer"),
        ({"text": "t", "page": 1.5, "heading": None, "kind": "text"}, "page to be a positive integer"),
        ({"text": "t", "page": None, "heading": 3, "kind": "text"}, "heading to be a string or null"),
        (
            {"text": "t", "page": None, "heading": None, "kind": "image"},
            r"kind to be one of \('text', 'table'\)",
        ),
        ({"text": "t", "page": None, "heading": None}, "a section with exactly"),
    ],
)
def test_a_section_of_the_wrong_shape_is_refused(section: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Section.from_json(section)


@pytest.mark.parametrize(
    "payload",
    [pickle.dumps(ParsedDocument("t", "text", [])), b"\xff\xfe", b"[" * 100_000, b"NaN", b"{"],
)
def test_what_is_not_json_is_refused(payload: bytes) -> None:
    with pytest.raises(frames.MalformedMessage, match="not a JSON message"):
        frames.decode_json(payload)


def test_messages_cross_a_pipe_and_a_long_one_is_refused_unread() -> None:
    read_fd, write_fd = os.pipe()
    try:
        frames.send_json(write_fd, {"outcome": "ok"})
        frames.send_bytes(write_fd, b"\0raw\xff")
        assert frames.receive_json(read_fd, max_bytes=100) == {"outcome": "ok"}
        assert frames.receive_bytes(read_fd, max_bytes=100) == b"\0raw\xff"
        os.write(write_fd, struct.pack("!Q", 1 << 40))  # the body never comes: it must not be awaited
        with pytest.raises(frames.MalformedMessage, match="over the 1,000 allowed"):
            frames.receive_bytes(read_fd, max_bytes=1000)
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_a_reply_may_be_as_long_as_the_memory_bound() -> None:
    assert frames.reply_limit(100) > 100 * 1024 * 1024
    assert json.loads(frames.encode_json({"a": "é"})) == {"a": "é"}
