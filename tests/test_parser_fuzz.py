"""Random and mutated input to every parser on its own: a document or a `RejectedFile`, nothing else.

`test_parsing.py` fuzzes `parse_document` by extension; here each parser gets input that the
dispatcher's checks (magic bytes, decoding) would otherwise filter out before it.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.errors import RejectedFile
from rag.parsing import ParsedDocument
from rag.parsing.csv import parse_csv
from rag.parsing.decoding import decode_text
from rag.parsing.docx import parse_docx
from rag.parsing.html import parse_html
from rag.parsing.markdown import parse_markdown
from rag.parsing.pdf import parse_pdf
from rag.parsing.sniff import mismatch_message
from rag.parsing.text import parse_text
from tests.sample_files import Heading, Table, make_docx, make_pdf

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PDF = make_pdf(["First page of text.", "Second page of text."], title="Fuzz")
DOCX = make_docx([Heading("Fuzz"), "A paragraph.", Table([["a", "b"], ["c", "d"]])], title="Fuzz")


def _outcome(parse: Callable[[], ParsedDocument]) -> None:
    try:
        doc = parse()
    except RejectedFile as exc:
        assert str(exc)
    else:
        assert isinstance(doc, ParsedDocument)
        assert all(isinstance(s.text, str) for s in doc.sections)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with bytes replaced, inserted and deleted, then perhaps cut short."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 12))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        if action == "replace":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data[: draw(st.integers(len(data) // 2, len(data)))])


@st.composite
def docx_with_mutated_part(draw: st.DrawFn) -> bytes:
    """A well-formed zip holding DOCX's parts, one of them mutated: python-docx itself meets the damage."""
    source = zipfile.ZipFile(io.BytesIO(DOCX))
    names = source.namelist()
    victim = draw(st.sampled_from(names))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            part = source.read(name)
            archive.writestr(name, draw(mutated(part)) if name == victim and part else part)
    return out.getvalue()


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=3000), mutated(PDF), st.binary(max_size=3000).map(lambda b: b"%PDF-1.4\n" + b)
    )
)
def test_pdf_parser(data: bytes) -> None:
    _outcome(lambda: parse_pdf(data))


@FUZZ
@given(st.one_of(st.binary(max_size=3000), mutated(DOCX), docx_with_mutated_part()))
def test_docx_parser(data: bytes) -> None:
    _outcome(lambda: parse_docx(data))


_MARKUP = st.text(alphabet=st.sampled_from(list("<>/=\"' \n#|,;-`~*abcdehlprstvy:0!")), max_size=400)
_TEXT = st.one_of(st.text(max_size=2000), _MARKUP)


@pytest.mark.parametrize(
    "parse", [parse_html, parse_markdown, parse_text, parse_csv], ids=lambda p: p.__name__
)
@FUZZ
@given(text=_TEXT)
def test_text_parsers(parse: Callable[[str], ParsedDocument], text: str) -> None:
    _outcome(lambda: parse(text))


@FUZZ
@given(data=st.binary(max_size=3000), extension=st.sampled_from([".txt", ".md", ".csv", ".html"]))
def test_decoder_returns_text_or_rejects(data: bytes, extension: str) -> None:
    try:
        text = decode_text(data, extension=extension)
    except RejectedFile as exc:
        assert str(exc)
    else:
        assert isinstance(text, str)


@FUZZ
@given(data=st.binary(max_size=64), kind=st.sampled_from(["pdf", "docx", "html", "markdown", "text", "csv"]))
def test_sniffing_never_raises(data: bytes, kind: str) -> None:
    message = mismatch_message(".x", kind, data)
    assert message is None or message.startswith("The file is named .x but is ")
