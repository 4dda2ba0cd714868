"""`python -m rag` in real subprocesses: the local embedding model, the offline answerer, real PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.answer.curated import write_curated_answer
from rag.answer.not_known import NOT_KNOWN
from rag.console import open_console
from rag.library.documents import list_documents
from rag.settings import load_settings
from tests.sample_files import make_pdf
from tests.workers import all_ended, jobs, running_workers, scalar, wait_until, worker_env

REPO = Path(__file__).resolve().parent.parent
USER = "cli-test"

GREENHOUSE_MD = """\
# Lunar greenhouse handbook

## Watering

The lunar greenhouse pumps recycled water to the tomato beds every 45 minutes.
The pump runs on the backup battery when the solar array is in shadow.

## Lighting

Grow lights stay on for 16 hours a day and switch off at 22:00 station time.
"""

OVEN_PAGES = [
    "Orbital kitchen oven manual. The orbital kitchen oven preheats to 220 degrees Celsius in 9 minutes.",
    "Cleaning the oven. Wipe the crumb tray with a dry cloth after every shift; never use water on it.",
]


def run_cli(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CONSOLE_USER": USER,
        "DATA_DIR": str(data_dir),
        # Pin the offline defaults even if a developer's secrets file says otherwise.
        "EMBEDDING_PROVIDER": "local",
        "ANSWER_MODE": "offline",
    }
    return subprocess.run(
        [sys.executable, "-m", "rag", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "greenhouse.md").write_text(GREENHOUSE_MD, encoding="utf-8")
    (docs / "oven-manual.pdf").write_bytes(make_pdf(OVEN_PAGES, title="Orbital kitchen oven manual"))
    (docs / "notes.txt").write_bytes(bytes(range(256)) * 8)
    return docs


def test_ingest_reingest_and_list(database_url: str, tmp_path: Path, folder: Path) -> None:
    first = run_cli(database_url, tmp_path / "data", "ingest", str(folder))
    assert first.returncode == 1, first.stderr  # one file was rejected
    lines = first.stdout.splitlines()
    assert len(lines) == 4
    by_name = {re.split(r"\s+", line)[1].rstrip(":"): line for line in lines[:3]}
    assert by_name["greenhouse.md"].startswith("ingested ")
    assert by_name["oven-manual.pdf"].startswith("ingested ")
    assert by_name["notes.txt"].startswith("rejected ")
    assert "binary data" in by_name["notes.txt"]
    summary = re.fullmatch(r"3 files: 2 ingested, 1 rejected; (\d+) chunks in [\d.]+ s", lines[3])
    assert summary, lines[3]
    # Progress goes to stderr, one finished bar per file, so stdout stays parseable.
    for i, name in enumerate(sorted(by_name), start=1):
        assert re.search(rf"\[{i}/3\] \[#{{20}}\] 100% {re.escape(name)}", first.stderr), first.stderr

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            docs = conn.execute(sa.text("SELECT filename, chunk_count, uploaded_by FROM documents")).all()
            chunks = conn.execute(sa.text("SELECT count(*) FROM chunks")).scalar_one()
            embed_calls = conn.execute(
                sa.text("SELECT count(*) FROM model_calls WHERE purpose = 'ingest_embedding' AND ok")
            ).scalar_one()
        assert sorted(d.filename for d in docs) == ["greenhouse.md", "oven-manual.pdf"]
        assert {d.uploaded_by for d in docs} == {USER}
        assert chunks == sum(d.chunk_count for d in docs) == int(summary.group(1))
        assert embed_calls == 2

        again = run_cli(database_url, tmp_path / "data", "ingest", str(folder))
        assert again.returncode == 1, again.stderr
        lines = again.stdout.splitlines()
        assert [line.split()[0] for line in lines[:3]] == ["duplicate", "rejected", "duplicate"]
        assert "already in the library" in lines[0]
        assert re.fullmatch(r"3 files: 2 duplicate, 1 rejected; 0 chunks in [\d.]+ s", lines[3]), lines[3]
        with engine.connect() as conn:
            outcomes = conn.execute(
                sa.text("SELECT outcome, count(*) FROM ingestion_events GROUP BY outcome")
            ).all()
            assert conn.execute(sa.text("SELECT count(*) FROM chunks")).scalar_one() == chunks
        assert dict(outcomes) == {"ingested": 2, "rejected": 2, "duplicate": 2}
    finally:
        engine.dispose()

    listed = run_cli(database_url, tmp_path / "data", "documents", "--json")
    assert listed.returncode == 0, listed.stderr
    documents = json.loads(listed.stdout)
    assert {d["title"] for d in documents} == {"Lunar greenhouse handbook", "Orbital kitchen oven manual"}
    assert all(d["uploaded_by"] == USER and d["chunk_count"] >= 1 for d in documents)
    assert sum(d["chunk_count"] for d in documents) == chunks

    plain = run_cli(database_url, tmp_path / "data", "documents")
    assert plain.returncode == 0, plain.stderr
    for d in documents:
        assert re.search(rf"{d['chunk_count']} chunks .* {re.escape(d['title'])}$", plain.stdout, re.M)


def test_ask_answers_with_citations_or_says_it_does_not_know(
    database_url: str, tmp_path: Path, folder: Path
) -> None:
    good = [str(folder / "greenhouse.md"), str(folder / "oven-manual.pdf")]
    ingested = run_cli(database_url, tmp_path / "data", "ingest", *good)
    assert ingested.returncode == 0, ingested.stderr  # every file made it in
    assert re.fullmatch(r"2 files: 2 ingested; \d+ chunks in [\d.]+ s", ingested.stdout.splitlines()[-1])

    asked = run_cli(
        database_url, tmp_path / "data", "ask", "How hot does the orbital kitchen oven preheat?", "--json"
    )
    assert asked.returncode == 0, asked.stderr
    result = json.loads(asked.stdout)
    assert result["answered"] is True and result["error"] is None
    assert "220 degrees Celsius" in result["answer"]
    sources = {s["number"]: s for s in result["sources"]}
    assert sources and all({"document", "chunk_id", "score", "text"} <= s.keys() for s in sources.values())
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", result["answer"])]
    assert cited
    # Both documents are retrieved (top 5 of 2 chunks), but only the oven manual is cited.
    assert {s["document"] for s in sources.values()} == {
        "Orbital kitchen oven manual",
        "Lunar greenhouse handbook",
    }
    for n in cited:
        assert sources[n]["document"] == "Orbital kitchen oven manual"
        assert sources[n]["cited"] is True
    assert any("220 degrees" in sources[n]["text"] for n in cited)

    unrelated = run_cli(
        database_url, tmp_path / "data", "ask", "Which football team won the 1966 World Cup?", "--json"
    )
    assert unrelated.returncode == 0, unrelated.stderr
    result = json.loads(unrelated.stdout)
    assert result["answered"] is False
    assert result["answer"] == NOT_KNOWN

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            answers = conn.execute(sa.text("SELECT answered, user_name FROM answers ORDER BY id")).all()
            query_calls = conn.execute(
                sa.text("SELECT count(*) FROM model_calls WHERE purpose = 'query_embedding'")
            ).scalar_one()
        assert [tuple(a) for a in answers] == [(True, USER), (False, USER)]
        assert query_calls == 2
    finally:
        engine.dispose()


def test_unknown_path_exits_2_with_a_clear_message(database_url: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = run_cli(database_url, tmp_path / "data", "ingest", str(missing))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"error: no such file or folder: {missing}" in result.stderr


def test_ingest_no_wait_queues_the_files_for_a_worker(
    database_url: str, tmp_path: Path, folder: Path
) -> None:
    good = [str(folder / "greenhouse.md"), str(folder / "oven-manual.pdf")]
    queued = run_cli(database_url, tmp_path / "data", "ingest", "--no-wait", *good)
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout == "queued 2 files (jobs 1-2)\n"
    db = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        # It returned with the jobs still queued: no worker ran, and it ran nothing itself.
        waiting = jobs(db)
        assert [(j.filename, j.state, j.queue_status, j.attempts) for j in waiting] == [
            ("greenhouse.md", "queued", "todo", 0),
            ("oven-manual.pdf", "queued", "todo", 0),
        ]
        assert (
            scalar(db, "SELECT count(*) FROM documents")
            == scalar(db, "SELECT count(*) FROM model_calls")
            == 0
        )

        env = worker_env(database_url, tmp_path / "data")
        with running_workers(env, log_dir=tmp_path / "workers") as workers:
            workers.start(1, concurrency=2)
            ended = wait_until(lambda: all_ended(db, 2), what="the worker to run both jobs", timeout=120)
        assert [(j.state, j.attempts) for j in ended] == [("ingested", 1), ("ingested", 1)]
    finally:
        db.dispose()
    listed = run_cli(database_url, tmp_path / "data", "documents", "--json")
    assert listed.returncode == 0, listed.stderr
    documents = json.loads(listed.stdout)
    assert {(d["filename"], d["uploaded_by"]) for d in documents} == {
        ("greenhouse.md", USER),
        ("oven-manual.pdf", USER),
    }
    assert {d["id"] for d in documents} == {j.document_id for j in ended}


def test_sync_keeps_the_library_in_step_with_a_folder(database_url: str, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "greenhouse.md").write_text(GREENHOUSE_MD, encoding="utf-8")
    (shared / "oven-manual.pdf").write_bytes(make_pdf(OVEN_PAGES, title="Orbital kitchen oven manual"))
    (shared / "rota.txt").write_text("Night shift rota: Ana on Mondays, Ben on Tuesdays.", encoding="utf-8")
    shown = f"{shared.resolve()}: "

    first = run_cli(database_url, tmp_path / "data", "sync", str(shared))
    assert first.returncode == 0, first.stderr  # no worker is running: it ran the jobs itself
    lines = first.stdout.splitlines()
    assert sorted(line.split()[:2] for line in lines[:3]) == [
        ["ingested", "greenhouse.md:"], ["ingested", "oven-manual.pdf:"], ["ingested", "rota.txt:"]
    ]  # fmt: skip
    assert lines[3] == shown + "3 new, 0 changed, 0 removed, 0 unchanged"

    (shared / "greenhouse.md").write_text(
        GREENHOUSE_MD + "\nThe pump is serviced every Friday.\n", encoding="utf-8"
    )
    (shared / "oven-manual.pdf").unlink()
    second = run_cli(database_url, tmp_path / "data", "sync", str(shared))
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[0] == "removed   oven-manual.pdf: its file is gone from the folder"
    assert second.stdout.splitlines()[1].startswith("replaced  greenhouse.md: ")
    assert second.stdout.splitlines()[2:] == [shown + "0 new, 1 changed, 1 removed, 1 unchanged"]

    db = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        with db.connect() as conn:
            docs = conn.execute(
                sa.text("SELECT filename, version, source FROM documents ORDER BY filename")
            ).all()
        assert [tuple(d) for d in docs] == [
            ("greenhouse.md", 2, str(shared.resolve())), ("rota.txt", 1, str(shared.resolve()))
        ]  # fmt: skip
        assert len(jobs(db)) == 4  # three, then only the changed file
    finally:
        db.dispose()


def test_ask_says_when_the_answer_is_a_curated_one(database_url: str, tmp_path: Path) -> None:
    manual = tmp_path / "oven.md"
    manual.write_text("# Orbital kitchen oven manual\n\nThe oven preheats to 220 degrees Celsius.\n")
    assert run_cli(database_url, tmp_path / "data", "ingest", str(manual)).returncode == 0
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "EMBEDDING_PROVIDER": "local",
           "ANSWER_MODE": "offline"}  # fmt: skip
    console = open_console(load_settings(env, secrets_file=None))
    try:
        [document] = list_documents(console.engine, console.kb)
        write_curated_answer(
            console,
            question="How hot does the oven preheat?",
            answer="To 220 degrees Celsius [1].",
            document_ids=[document.id],
            author="km@example.com",
        )
    finally:
        console.engine.dispose()
    asked = run_cli(database_url, tmp_path / "data", "ask", "How hot does the oven preheat?", "--json")
    result = json.loads(asked.stdout)
    assert (result["answer"], result["curated_by"]) == ("To 220 degrees Celsius [1].", "km@example.com")
    assert result["curated_at"] is not None
    shown = run_cli(database_url, tmp_path / "data", "ask", "How hot does the oven preheat?").stdout
    assert "(curated answer by km@example.com, " in shown
