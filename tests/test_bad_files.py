"""Every case of the bad-file corpus through `ingest_file` and the CLI: a specific reason, nothing stored."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rag.console import Console
from rag.ingest.pipeline import IngestResult, ingest_file
from tests import bad_files
from tests.bad_files import BadFile
from tests.conftest import ConsoleFactory
from tests.test_cli import REPO, USER
from tests.test_pages import (  # noqa: F401  # open_app is a fixture
    OpenApp,
    button,
    jobs,
    library_titles,
    open_app,
    run,
    run_queue,
    table,
)

# Cases ingested as ordinary text, each with its own test below; every other case is a rejection.
INGESTED = (bad_files.unknown_encoding, bad_files.html_with_hidden_text, bad_files.special_tokens)
REJECTED = [case for case in bad_files.CASES if case not in INGESTED]


def _rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def _stored(engine: Engine) -> tuple[int, int, int]:
    (row,) = _rows(
        engine,
        "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks), "
        "(SELECT count(*) FROM model_calls)",
    )
    return row  # type: ignore[return-value]


def _chunk_text(engine: Engine) -> str:
    return "\n".join(str(t) for (t,) in _rows(engine, "SELECT text FROM chunks ORDER BY position"))


def _ingest(console: Console, bad: BadFile) -> IngestResult:
    return ingest_file(console, bad.filename, bad.data, user="ana")


@pytest.mark.parametrize(
    "case",
    REJECTED,
    ids=lambda case: case.__name__,
)
def test_a_bad_file_is_rejected_with_its_reason_and_nothing_is_stored(
    make_console: ConsoleFactory, case: Callable[[], BadFile]
) -> None:
    console = make_console()
    bad = case()
    result = _ingest(console, bad)
    assert result.outcome == "rejected"
    assert re.search(bad.expect, result.message), result.message
    assert _stored(console.engine) == (0, 0, 0)
    assert _rows(console.engine, "SELECT outcome, reason FROM ingestion_events") == [
        ("rejected", result.message)
    ]


def test_text_in_an_undeclared_encoding_is_detected_and_stored(make_console: ConsoleFactory) -> None:
    console = make_console()
    bad = bad_files.unknown_encoding()
    assert _ingest(console, bad).outcome == "ingested"
    assert _chunk_text(console.engine) == bad.expect


def test_html_hidden_text_is_dropped_and_the_document_flagged(make_console: ConsoleFactory) -> None:
    console = make_console()
    result = _ingest(console, bad_files.html_with_hidden_text())
    assert result.outcome == "ingested" and "hidden text" in result.message
    assert _rows(console.engine, "SELECT flags FROM documents") == [(["hidden_text_removed"],)]
    text = _chunk_text(console.engine)
    assert "Returns are accepted within 14 days." in text
    for hidden in ("Ignore previous", "refunds are unlimited", "steal", "color"):
        assert hidden not in text


def test_special_tokens_are_stored_as_ordinary_text(make_console: ConsoleFactory) -> None:
    console = make_console()
    bad = bad_files.special_tokens()
    result = _ingest(console, bad)
    assert result.outcome == "ingested" and result.token_count > 20  # "<|endoftext|>" is several tokens
    assert _chunk_text(console.engine) == bad.expect


def _slow_csv() -> bytes:
    """A legitimate CSV that takes well over a second to parse: 190,000 rows of three columns."""
    return b"id,name,city\n" + b"".join(b"%d,name %d,city %d\n" % (i, i, i % 97) for i in range(190_000))


def test_a_parse_over_the_time_bound_is_rejected_and_the_next_upload_works(
    make_console: ConsoleFactory,
) -> None:
    hurried = make_console(PARSE_TIMEOUT_S="0.1")
    result = ingest_file(hurried, "slow.csv", _slow_csv(), user="ana")
    assert result.outcome == "rejected"
    assert "took longer than 0.1 s to read" in result.message
    assert _stored(hurried.engine) == (0, 0, 0)
    assert (
        ingest_file(make_console(), "next.txt", b"The next upload works.", user="ana").outcome == "ingested"
    )


def test_a_parse_over_the_memory_bound_is_rejected_and_the_next_upload_works(
    make_console: ConsoleFactory,
) -> None:
    frugal = make_console(PARSE_MEMORY_MB="32")
    text = (b"A line of ordinary words in a long text file.\n" * 450_000)[: 20 * 1024 * 1024]
    result = ingest_file(frugal, "long.txt", text, user="ana")
    assert result.outcome == "rejected"
    assert "needed more than 32 MB of memory" in result.message
    assert _stored(frugal.engine) == (0, 0, 0)
    assert ingest_file(frugal, "next.txt", b"The next upload works.", user="ana").outcome == "ingested"


def test_the_cli_rejects_each_bad_file_with_its_reason(database_url: str, tmp_path: Path) -> None:
    limit_mb = 5.0  # small enough for a quick run; the bigger cases only ever meet the size check
    corpus = [
        bad
        for bad in bad_files.all_bad_files(limit_mb)
        if bad.outcome == "rejected"
        and (len(bad.data) <= limit_mb * 1024 * 1024 or bad.filename == "huge.txt")
    ]
    folder = tmp_path / "bad"
    folder.mkdir()
    for bad in corpus:
        (folder / bad.filename).write_bytes(bad.data)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CONSOLE_USER": USER,
        "DATA_DIR": str(tmp_path / "data"),
        "EMBEDDING_PROVIDER": "local",
        "ANSWER_MODE": "offline",
        "MAX_UPLOAD_MB": str(limit_mb),
    }
    done = subprocess.run(
        [sys.executable, "-m", "rag", "ingest", str(folder)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    lines = {line.split()[1].rstrip(":"): line for line in done.stdout.splitlines()[:-1]}
    assert sorted(lines) == sorted(bad.filename for bad in corpus)
    for bad in corpus:
        assert lines[bad.filename].startswith("rejected "), lines[bad.filename]
        assert re.search(bad.expect, lines[bad.filename]), lines[bad.filename]
    assert done.stdout.splitlines()[-1].startswith(f"{len(corpus)} files: {len(corpus)} rejected; 0 chunks")


def test_the_upload_page_shows_each_reason_and_flags_hidden_text(
    open_app: OpenApp,  # noqa: F811  # the fixture imported above
    database_url: str,
) -> None:
    at = run(open_app(database_url))
    run(at.switch_page("pages/documents.py"))
    files = [
        bad_files.html_named_pdf(),
        bad_files.docx_zip_bomb(),
        bad_files.scanned_pdf(),
        bad_files.html_with_hidden_text(),
    ]
    at.file_uploader[0].set_value([(bad.filename, bad.data, "application/octet-stream") for bad in files])
    run(button(at, "Upload and index").click())
    assert [s.value for s in at.success] == [
        "Queued 4 files: pricing\\.pdf, bomb\\.docx, scan\\.pdf, returns\\.html. "
        "They are indexed in the background; you can leave this page."
    ]
    assert {state for state, _ in jobs(at).values()} == {"Queued"} and len(jobs(at)) == 4

    run_queue()
    run(at)
    shown = jobs(at)
    for bad in files[:3]:
        state, reason = shown[bad.filename]
        assert state == "Rejected" and re.search(bad.expect, reason), reason
    state, details = shown["returns.html"]
    assert state == "Ingested" and "hidden text" in details, details
    assert library_titles(at) == ["Returns"]
    assert "hidden_text_removed" in table(at, "Title")["Status"][0]
