"""A golden set uploaded by a knowledge manager, scored on the user's own library."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from rag.answer import prepare, stream
from rag.errors import RejectedFile
from rag.evaluation import evaluate, load_golden_set
from rag.ingest.batch import ingest_paths, sample_files
from rag.ingest.pipeline import ingest_file
from rag.library.documents import list_documents
from rag.providers.extractive import ExtractiveGenerator
from rag.providers.local_embedder import LocalEmbedder
from rag.retrieval import retrieve
from tests.conftest import ConsoleFactory

SAMPLE_QUESTIONS = json.loads((Path(__file__).parent.parent / "samples" / "questions.json").read_text())

DOCS = {
    "returns.md": b"# Returns policy\n\nOpened headphones can be returned within 14 days.",
    "shipping.md": b"# Shipping\n\nParcels to Germany arrive in three business days.",
    "warranty.md": b"# Warranty\n\nThe Vault appliance has a two year warranty.",
}


@pytest.fixture
def library(make_console: ConsoleFactory):  # type: ignore[no-untyped-def]
    console = make_console()
    for name, data in DOCS.items():
        assert ingest_file(console, name, data, user="km").ok
    return console


def test_csv_names_documents_by_file_name_or_title(library) -> None:  # type: ignore[no-untyped-def]
    csv = b"question,document\nHow long to return opened headphones?,returns.md\nParcels to Germany?,Shipping\nNo doc,\n"
    golden = load_golden_set("golden.csv", csv, list_documents(library.engine, library.kb))
    assert list(golden.queries.values()) == ["How long to return opened headphones?", "Parcels to Germany?"]
    assert list(golden.qrels.values()) == [{"returns.md": 1}, {"shipping.md": 1}]


def test_json_like_the_sample_questions_file(library) -> None:  # type: ignore[no-untyped-def]
    data = json.dumps(
        [
            {"question": "Warranty of the Vault?", "document": "warranty.md"},
            {"question": "Dark mode?", "document": None},
            {"question": "Either", "document": ["returns.md", "Warranty"]},
        ]
    ).encode()
    golden = load_golden_set("golden.json", data, list_documents(library.engine, library.kb))
    assert list(golden.qrels.values()) == [{"warranty.md": 1}, {"returns.md": 1, "warranty.md": 1}]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("g.csv", b"question,document\nWhat?,missing.pdf\n", "not in the library: missing.pdf"),
        ("g.csv", b"q,doc\nWhat?,returns.md\n", "columns 'question' and 'document'"),
        ("g.csv", b"question,document\n", "no question"),
        ("g.json", b"{not json", "JSON could not be read"),
        ("g.json", b'{"question": "x"}', "must be a list"),
        ("g.csv", b"\xff\xfe\x00bad", "UTF-8"),
    ],
)
def test_bad_golden_sets_are_refused_clearly(library, name: str, data: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RejectedFile, match=message):
        load_golden_set(name, data, list_documents(library.engine, library.kb))


def test_a_golden_set_is_scored_on_the_library(library) -> None:  # type: ignore[no-untyped-def]
    csv = (
        b"question,document\n"
        b"opened headphones returned within days,returns.md\n"
        b"parcels germany business days,shipping.md\n"
        b"vault appliance warranty years,warranty.md\n"
    )
    golden = load_golden_set("golden.csv", csv, list_documents(library.engine, library.kb))
    for mode in ("dense", "keyword", "hybrid"):
        report = evaluate(library, golden, mode)
        assert (report.queries, report.documents) == (3, 3)
        assert report.mrr_at_10 == pytest.approx(1.0), mode
        assert report.recall_at_10 == pytest.approx(1.0)


def test_a_question_about_one_table_row_finds_that_row(
    make_console: ConsoleFactory, local_embedder: LocalEmbedder
) -> None:
    # Each row of pricing-plans.csv is a passage carrying the header, so the Team row is not
    # averaged with the other plans' rows (it scored 0.397 as part of the whole table, under
    # MIN_RELEVANCE, and ranked behind the refund policy's "$390 per year").
    console = make_console(embedder=local_embedder)
    assert all(r.ok for r in ingest_paths(console, sample_files(), user="km"))
    golden = next(
        q for q in SAMPLE_QUESTIONS if q["question"] == "How much does the Team plan cost per month?"
    )
    vectors = local_embedder.embed([golden["question"]]).vectors
    for mode in ("dense", "hybrid"):
        params = dataclasses.replace(console.settings.retrieval, mode=mode)
        best = retrieve(console.engine, console.kb, [golden["question"]], vectors, params)[0]
        assert best.document == "pricing plans" and best.location == "row 2", mode
        assert best.text.startswith("plan: Team | ") and golden["answer_contains"] in best.text
        assert best.score >= console.settings.min_relevance
    # And the offline answerer quotes it (not the refund policy's "$390 per year" alone).
    offline = dataclasses.replace(console, generator=ExtractiveGenerator(embedder=local_embedder))
    answer = prepare(offline, golden["question"], user="agent")
    text = "".join(stream(answer))
    assert answer.answered and answer.confidence == "high" and golden["answer_contains"] in text
