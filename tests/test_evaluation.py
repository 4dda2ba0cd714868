"""The evaluation harness: metrics by hand, BEIR loading, and a tiny benchmark end to end on real PostgreSQL."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.errors import ConfigError
from rag.evaluation import (
    evaluate,
    load_beir,
    mrr_at_k,
    ndcg_at_k,
    open_eval_console,
    percentile,
    recall_at_k,
    sync_corpus,
)
from rag.ingest.pipeline import ingest_file
from rag.library.documents import document_count
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder

REPO = Path(__file__).resolve().parent.parent
REPORT_KEYS = {
    "ndcg@10",
    "recall@10",
    "recall@100",
    "mrr@10",
    "latency_p50_ms",
    "latency_p95_ms",
    "queries",
    "documents",
    "mode",
}

CORPUS = [
    (
        "d1",
        "Lunar greenhouse",
        "The lunar greenhouse pumps recycled water to the tomato beds every 45 minutes.",
    ),
    ("d2", "Orbital oven", "The orbital kitchen oven preheats to 220 degrees Celsius in nine minutes."),
    ("d3", "Crumb tray", "Wipe the oven crumb tray with a dry cloth after every shift."),
    ("d4", "Rover tyres", "Rover tyres are inflated with nitrogen to 3.2 bar before each excursion."),
    ("d5", "Airlock", "The airlock cycles in ninety seconds and checks every suit seal twice."),
    ("d6", "Solar array", "The solar array rotates to follow the sun and stows during dust storms."),
    ("d7", "Library", "The station library lends paper novels for two weeks at a time."),
    ("d8", "", "Greenhouse lighting stays on for sixteen hours and switches off at 22:00."),
]
QUERIES = [
    ("q1", "How often does the lunar greenhouse pump recycled water to the tomatoes?"),
    ("q2", "What temperature does the orbital kitchen oven preheat to?"),
    ("q3", "Which gas inflates the rover tyres before an excursion?"),
    ("q4", "How long are greenhouse lights on before they switch off?"),
    ("q5", "A query nobody judged about the library"),
]
QRELS = [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d3", 1), ("q3", "d4", 1), ("q4", "d8", 1), ("q4", "d1", 0)]


def write_beir(folder: Path, *, gz: bool = False, corpus: list[tuple[str, str, str]] = CORPUS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in corpus)
    if gz:
        with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        (folder / "corpus.jsonl").write_text(lines, encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in QUERIES), encoding="utf-8"
    )
    (folder / "qrels").mkdir(exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS), encoding="utf-8"
    )
    return folder


# Metrics, against values worked out by hand.


def test_ndcg_binary_relevance_at_ranks_one_and_three() -> None:
    relevant = {"a": 1, "c": 1}
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b", "c", "d"], relevant, 10) == pytest.approx(expected)


def test_ndcg_graded_relevance_uses_exponential_gains() -> None:
    relevant = {"a": 1, "b": 2}
    # Retrieved in the wrong order: gain 1 at rank 1, gain 3 at rank 2; the ideal is the reverse.
    expected = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b"], relevant, 10) == pytest.approx(expected)
    assert ndcg_at_k(["b", "a"], relevant, 10) == pytest.approx(1.0)


def test_ndcg_counts_only_the_top_k_but_the_ideal_from_all_judgments() -> None:
    relevant = {"a": 1, "b": 1}
    assert ndcg_at_k(["x", "a", "b"], relevant, 2) == pytest.approx(
        (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    )


def test_nothing_relevant_retrieved_scores_zero() -> None:
    relevant = {"a": 1, "zero": 0}
    ranked = ["zero", "b", "c"]
    assert ndcg_at_k(ranked, relevant, 10) == 0.0
    assert recall_at_k(ranked, relevant, 10) == 0.0
    assert mrr_at_k(ranked, relevant, 10) == 0.0
    assert ndcg_at_k([], relevant, 10) == 0.0


def test_recall_and_mrr() -> None:
    relevant = {"a": 1, "b": 2, "c": 1, "n": 0}
    ranked = ["x", "b", "y", "a"]
    assert recall_at_k(ranked, relevant, 10) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert mrr_at_k(ranked, relevant, 10) == pytest.approx(1 / 2)
    assert mrr_at_k(ranked, relevant, 1) == 0.0
    assert mrr_at_k(["n", "y", "c"], relevant, 10) == pytest.approx(1 / 3)


def test_percentile_interpolates_between_ranks() -> None:
    values = [40.0, 10.0, 30.0, 20.0]
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError, match="at least one value"):
        percentile([], 50)


# Loading BEIR folders.


def test_load_beir_plain_and_gzipped_read_the_same(tmp_path: Path) -> None:
    plain = load_beir(write_beir(tmp_path / "plain"))
    zipped = load_beir(write_beir(tmp_path / "zipped", gz=True))
    assert plain.documents == zipped.documents
    assert [d.id for d in plain.documents] == [f"d{i}" for i in range(1, 9)]
    assert plain.documents[0].content == CORPUS[0][1] + " " + CORPUS[0][2]
    assert plain.documents[7].content == CORPUS[7][2]  # no title: no leading space
    assert plain.qrels["q2"] == {"d2": 2, "d3": 1}
    # q5 has no judgments and is not evaluated.
    assert [q for q, _ in plain.judged_queries()] == ["q1", "q2", "q3", "q4"]
    assert plain.name == "plain"


def test_load_beir_says_what_is_missing_or_malformed(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "ds")
    with pytest.raises(ConfigError, match="is not a folder"):
        load_beir(tmp_path / "nowhere")
    (folder / "qrels" / "test.tsv").write_text("q1\td1\t1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must start with the header line"):
        load_beir(folder)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\thigh\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"test.tsv:2 must be query-id"):
        load_beir(folder)
    (folder / "qrels" / "test.tsv").unlink()
    with pytest.raises(ConfigError, match=r"qrels.* is missing"):
        load_beir(folder)
    write_beir(folder)
    with (folder / "corpus.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"_id": "d9", "title": "x"\n')
    with pytest.raises(ConfigError, match=r"corpus.jsonl:9 is not valid JSON"):
        load_beir(folder)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "title": "no text"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"corpus.jsonl:1 has no 'text'"):
        load_beir(folder)
    (folder / "corpus.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"neither corpus.jsonl nor corpus.jsonl.gz"):
        load_beir(folder)


# The harness on a real database.


def test_evaluation_end_to_end_in_its_own_knowledge_base(
    make_console: ConsoleFactory, tmp_path: Path
) -> None:
    embedder = HashEmbedder()
    console = make_console(embedder=embedder)
    dataset = load_beir(write_beir(tmp_path / "tiny", gz=True))
    eval_console = open_eval_console(console, "eval:tiny")
    seen: list[tuple[int, int]] = []

    sync = sync_corpus(eval_console, dataset, progress=lambda done, total: seen.append((done, total)))
    assert (sync.documents, sync.stored, sync.skipped, sync.removed) == (8, 8, 0, 0)
    assert seen[0] == (0, 8) and seen[-1] == (8, 8)
    assert len(embedder.calls) == 1  # eight small documents share one batch
    assert sum(len(c) for c in embedder.calls) == sync.chunks == 8

    report = evaluate(eval_console, dataset, "keyword")
    data = report.as_json()
    assert data.keys() >= REPORT_KEYS
    assert (data["queries"], data["documents"], data["mode"]) == (4, 8, "keyword")
    # Every query shares its rarest words with its relevant document only.
    assert data["mrr@10"] == 1.0
    assert data["recall@10"] == data["recall@100"] == 1.0
    for key in ("ndcg@10", "latency_p50_ms", "latency_p95_ms"):
        assert isinstance(data[key], float) and data[key] > 0
    assert data["latency_p50_ms"] <= data["latency_p95_ms"]
    assert "nDCG@10" in report.as_table()

    hybrid = evaluate(eval_console, dataset, "hybrid", limit=2)
    assert (hybrid.queries, hybrid.mode) == (2, "hybrid")
    assert 0 <= hybrid.ndcg_at_10 <= 1

    # The user's own knowledge base never sees the corpus.
    assert document_count(console.engine, console.kb) == 0
    assert document_count(console.engine, eval_console.kb) == 8


def test_rerun_embeds_only_what_changed(make_console: ConsoleFactory, tmp_path: Path) -> None:
    embedder = HashEmbedder()
    console = make_console(embedder=embedder)
    eval_console = open_eval_console(console, "eval:tiny")
    sync_corpus(eval_console, load_beir(write_beir(tmp_path / "tiny")))
    embedded = len(embedder.calls)

    again = sync_corpus(eval_console, load_beir(tmp_path / "tiny"))
    assert (again.stored, again.skipped, again.removed, again.chunks) == (0, 8, 0, 0)
    assert len(embedder.calls) == embedded

    changed = [(*CORPUS[0][:2], "The greenhouse now waters the tomato beds hourly."), *CORPUS[1:7]]
    third = sync_corpus(eval_console, load_beir(write_beir(tmp_path / "tiny", corpus=changed)))
    assert (third.stored, third.skipped, third.removed) == (1, 6, 1)
    assert embedder.calls[-1] == [changed[0][1] + " " + changed[0][2]]
    with console.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT filename, version FROM documents WHERE knowledge_base_id = :kb ORDER BY filename"
            ),
            {"kb": eval_console.kb.id},
        ).all()
    assert [tuple(r) for r in rows] == [("d1", 2)] + [(f"d{i}", 1) for i in range(2, 8)]


def test_refuses_the_users_knowledge_base_and_one_of_uploads(
    make_console: ConsoleFactory, tmp_path: Path
) -> None:
    console = make_console()
    dataset = load_beir(write_beir(tmp_path / "tiny"))
    with pytest.raises(ConfigError, match="'default' is the console's own knowledge base"):
        open_eval_console(console, "default")
    uploads = make_console(KNOWLEDGE_BASE="handbook")
    ingest_file(uploads, "notes.txt", b"The crumb tray is cleaned daily.", user="t")
    with pytest.raises(ConfigError, match="holds uploaded documents"):
        sync_corpus(open_eval_console(console, "handbook"), dataset)
    assert document_count(uploads.engine, uploads.kb) == 1


def test_cli_eval_json_with_the_local_model(database_url: str, tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "EMBEDDING_PROVIDER": "local",
        "ANSWER_MODE": "offline",
    }
    result = subprocess.run(
        [sys.executable, "-m", "rag", "eval", "--beir", str(folder), "--json", "--limit-queries", "3"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data.keys() >= REPORT_KEYS
    assert data["documents"] == 8
    assert data["queries"] == 3
    assert data["mode"] == "hybrid"
    assert data["knowledge_base"] == "eval:tiny"
    assert 0 < data["ndcg@10"] <= 1
    assert "ingesting 8/8 documents" in result.stderr
    assert "querying 3/3 queries" in result.stderr
