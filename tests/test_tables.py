"""Tables and charts for people: ui/tables.py formats, converts and blanks; ui/charts.py sizes.

The helpers are checked on frames; the Overview, Latency, Audit, Documents, Unanswered and Freshness
pages through AppTest, where no browser is there to name a time zone: times are shown in UTC, without
an offset.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from db.models import AuditEntry
from rag.answer.curated import write_curated_answer
from rag.console import Console
from rag.ingest.pipeline import ingest_file
from rag.library.freshness import document_freshness, mark_reviewed, set_review_by, today_utc
from tests.test_analytics_pages import YESTERDAY, Page, add_answers, add_document, console, page
from tests.test_pages import REPO, USER, button, run
from tests.test_unanswered import EXPORT, states_page, work_on
from ui.charts import LABEL_CHARS, MAX_MARGIN_PX, bars_height, horizontal_bars, short_label
from ui.tables import Column, dollars, download_frame, fitting_decimals, local_times, table_view

__all__ = ["console", "page"]  # the analytics pages' fixtures

BERLIN = ZoneInfo("Europe/Berlin")


def view(frame: pd.DataFrame, columns: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    return table_view(frame, columns, BERLIN)


def formats(config: dict[str, Any]) -> dict[str, str]:
    return {name: c["type_config"].get("format") for name, c in config.items()}


def test_times_are_converted_to_the_readers_zone_and_nothing_stays_nothing() -> None:
    moments = pd.Series(
        [datetime(2026, 7, 1, 12, 0, tzinfo=UTC), datetime(2026, 1, 1, 12, 0), None], dtype=object
    )
    local = local_times(moments, BERLIN)
    assert [t.strftime("%d %b %H:%M %Z") for t in local[:2]] == ["01 Jul 14:00 CEST", "01 Jan 13:00 CET"]
    assert pd.isna(local[2])
    shown, config = view(pd.DataFrame({"created_at": moments}), {"created_at": Column("Asked at", "time")})
    assert shown["Asked at"].dt.tz == BERLIN
    # The format has no offset: "+00:00" never reaches the cell.
    assert formats(config) == {"Asked at": "D MMM YYYY, HH:mm"}
    assert config["Asked at"]["help"] == "In your time zone (Europe/Berlin)"


def test_missing_text_is_none_not_the_word() -> None:
    frame = pd.DataFrame({"error_code": ["timeout", None, np.nan], "n": [1.0, None, 3.0]})
    shown, _ = view(frame, {"error_code": "Error", "n": Column("Answers", "count")})
    assert list(shown.columns) == ["Error", "Answers"]
    assert shown["Error"].tolist() == ["timeout", None, None]
    assert "None" not in shown.astype(str).where(shown.notna(), "").to_numpy().ravel().tolist()


@pytest.mark.parametrize(
    ("kind", "values", "expected_format", "expected_values"),
    [
        ("count", [5384, 12], "%,.0f", [5384, 12]),
        ("bytes", [5384, 1_200_000], "bytes", [5384, 1_200_000]),
        ("number", [5384.3605, 12.5], "%,.0f", [5384.3605, 12.5]),
        ("number", [0.8123, 0.5], "%,.3f", [0.8123, 0.5]),
        ("dollars", [0.0123, 1.5], "$%,.4f", [0.0123, 1.5]),
        ("dollars", [12.5, 1234.0], "$%,.2f", [12.5, 1234.0]),
        ("share", [0.5, 0.25], "%.0f%%", [50.0, 25.0]),
        ("share", [0.005, 1.0], "%.1f%%", [0.5, 100.0]),
        ("duration_ms", [5384.3605, 2000.0], "%,.1f s", [5.3843605, 2.0]),
        ("duration_ms", [15.0, 40.0], "%,.0f ms", [15.0, 40.0]),
        ("duration_ms", [2.0, 3.0], "%,.1f ms", [2.0, 3.0]),
    ],
)
def test_numbers_get_separators_and_decimals_that_fit(
    kind: str, values: list[float], expected_format: str, expected_values: list[float]
) -> None:
    shown, config = view(pd.DataFrame({"x": [*values, None]}), {"x": Column("X", kind)})  # type: ignore[arg-type]
    assert formats(config) == {"X": expected_format}
    assert shown["X"][:-1].tolist() == pytest.approx(expected_values)
    assert math.isnan(shown["X"].iloc[-1])


def test_decimals_follow_the_values() -> None:
    assert fitting_decimals(pd.Series([None, np.nan, 0.0]), significant=3, at_least=2) == 2
    assert fitting_decimals(pd.Series([0.0000001]), significant=3, at_most=6) == 6
    assert fitting_decimals(pd.Series([0.9, 0.0123, 500.0]), significant=3, smallest=True) == 4


def test_dollars_as_text_keep_three_digits_below_a_dollar() -> None:
    assert [dollars(v) for v in (0.0123456, 0.042, 12.5, 1234.567, 0.0, None, math.nan)] == [
        "$0.0123",
        "$0.042",
        "$12.50",
        "$1,234.57",
        "$0.00",
        "–",
        "–",
    ]


def test_downloads_keep_the_stored_values_under_the_human_names() -> None:
    asked = datetime(2026, 7, 1, 14, 0, tzinfo=BERLIN)
    frame = pd.DataFrame({"total_ms": [5384.3605], "answered_share": [0.5], "asked": [asked], "other": [1]})
    columns = {
        "total_ms": Column("Total", "duration_ms"),
        "answered_share": Column("Answered", "share"),
        "asked": Column("Asked at", "time"),
        "other": Column("Size", "bytes"),
    }
    stored = download_frame(frame, columns).to_dict("records")
    assert stored == [
        {
            "Total (ms)": 5384.3605,
            "Answered (0-1)": 0.5,
            "Asked at (UTC)": pd.Timestamp("2026-07-01 12:00Z"),
            "Size (bytes)": 1,
        }
    ]


def test_long_labels_are_shortened_on_the_axis_and_whole_on_hover() -> None:
    long_title = "Northwind Cloud <b>Refund</b> Policy for Enterprise Customers in the European Union"
    frame = pd.DataFrame({"document": [long_title, "FAQ"], "citations": [5, 2]})
    figure = horizontal_bars(frame, label="document", value="citations", value_title="citations")
    [bars] = figure.data
    assert bars.y[0] == long_title.replace("<", "&lt;").replace(">", "&gt;")  # hover: all of it
    ticks = list(figure.layout.yaxis.ticktext)
    assert ticks[1] == "FAQ" and ticks[0].endswith("…") and "<b>" not in ticks[0]
    assert len(short_label(long_title)) == LABEL_CHARS
    assert figure.layout.margin.l == MAX_MARGIN_PX  # the longest label fits
    assert figure.layout.height == bars_height(2)
    assert bars_height(30) > bars_height(10) > bars_height(2)  # grows with the bars


def dataframes(at: AppTest) -> list[tuple[Any, pd.DataFrame]]:
    return [(d.proto, d.value) for d in at.dataframe]


def assert_for_people(at: AppTest) -> None:
    """Every table: blank cells for nothing, human names, times without an offset."""
    assert at.dataframe
    for proto, frame in dataframes(at):
        assert proto.HasField("placeholder") and proto.placeholder == ""
        for name in frame.columns:
            assert "_" not in name and (name[0].isupper() or name.startswith("nDCG")), name
        cells = frame.astype(object).where(frame.notna(), None).to_numpy().ravel().tolist()
        assert not {"None", "nan", "NaN", "NaT"} & {c for c in cells if isinstance(c, str)}
        config = json.loads(proto.columns)
        for name in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[name]):
                assert config[name]["type_config"]["format"] in ("D MMM YYYY, HH:mm", "distance"), name


def test_analytics_tables_read_as_prose_for_people(console: Console, page: Page) -> None:
    add_document(console, "Returns", YESTERDAY, 0.0)
    add_answers(
        console, (YESTERDAY, 5384.3605, 0.0, "Returns"), (YESTERDAY + timedelta(hours=1), 700.0, None, None)
    )
    latency = page(str(REPO / "pages/analytics_latency.py"))
    assert_for_people(latency)
    [slowest] = [frame for _, frame in dataframes(latency) if "Question" in frame.columns]
    # No error and no price: empty cells, not "None".
    assert slowest["Error"].isna().all() and slowest["Asked at"].dt.tz is not None
    overview = page(str(REPO / "pages/analytics_overview.py"))
    assert_for_people(overview)
    [people] = [frame for _, frame in dataframes(overview) if "Person" in frame.columns]
    assert list(people.columns) == ["Person", "Questions", "Answered", "Cost", "Last question"]
    assert people["Answered"].tolist() == [100.0]  # a share shown in percent


def test_the_audit_log_shows_times_without_an_offset_and_no_none(console: Console, page: Page) -> None:
    with console.engine.begin() as conn:
        conn.execute(
            sa.insert(AuditEntry).values(
                actor="boss@example.com", action="password_set", target="ana@example.com",
                detail={"temporary": True, "note": None},
            )
        )  # fmt: skip
    at = page(str(REPO / "pages/audit.py"))
    assert_for_people(at)
    [(_, audit)] = dataframes(at)
    assert audit["Details"].tolist() == ["temporary: yes"]
    assert str(audit["When"].dt.tz) == "UTC"  # no browser here: UTC


OVEN = b"# Oven\n\nThe oven preheats to 220 degrees in ten minutes."
FRIDGE = b"# Fridge\n\nThe fridge keeps food at 4 degrees."


def config_of(at: AppTest, column: str) -> dict[str, Any]:
    """The column configuration of `column` in the page's table that has it."""
    [found] = [
        json.loads(proto.columns)[column] for proto, frame in dataframes(at) if column in frame.columns
    ]
    return found  # type: ignore[no-any-return]


def test_the_documents_page_shows_sizes_in_bytes_and_blank_reasons(console: Console, page: Page) -> None:
    assert ingest_file(console, "oven.md", OVEN, user="km@example.com").ok
    assert not ingest_file(console, "notes.txt", bytes(range(256)) * 8, user="km@example.com").ok
    at = page(str(REPO / "pages/documents.py"))
    assert_for_people(at)
    [(_, library)] = [(p, f) for p, f in dataframes(at) if "Title" in f.columns]
    assert list(library.columns) == [
        "Title", "File", "Type", "Size", "Chunks", "Tokens", "Version", "Uploaded", "By", "Status",
        "Owner", "Review by", "Review",
    ]  # fmt: skip
    assert library["Size"].tolist() == [len(OVEN)]  # bytes, shown by the browser as "54B", "1.2KB"…
    assert config_of(at, "Size")["type_config"]["format"] == "bytes"
    assert str(library["Uploaded"].dt.tz) == "UTC"  # no browser here: UTC
    assert library["Review by"].tolist() == [document_freshness(console.engine, console.kb)[0].review_by]
    [log] = [f for _, f in dataframes(at) if "Outcome" in f.columns]
    assert sorted(log["Outcome"]) == ["Ingested", "Rejected"]
    reasons = dict(zip(log["File"], log["Reason"], strict=True))
    assert pd.isna(reasons["oven.md"]) and "binary" in reasons["notes.txt"]  # nothing: an empty cell
    assert str(log["When"].dt.tz) == "UTC"


def test_the_unanswered_page_shows_dates_in_the_readers_zone(console: Console) -> None:
    assert ingest_file(console, "export.md", EXPORT, user="km@example.com").ok
    export = document_freshness(console.engine, console.kb)[0].id
    write_curated_answer(
        console, question="Can I export to Excel?", answer="Open Reports, click Export [1].",
        document_ids=[export], author=USER,
    )  # fmt: skip
    at, ids = states_page(console)
    assert_for_people(at)
    [groups] = [f for _, f in dataframes(at) if "Why flagged" in f.columns]
    assert str(groups["First seen"].dt.tz) == "UTC" and str(groups["Last seen"].dt.tz) == "UTC"
    assert config_of(at, "Due")["type_config"]["format"] == "D MMM YYYY"
    [resolved] = [f for _, f in dataframes(at) if "Days to resolve" in f.columns]
    assert str(resolved["Resolved"].dt.tz) == "UTC" and resolved["Answered by"].isna().all()
    assert config_of(at, "Days to resolve")["type_config"]["format"] == "%,.1f"
    [curated] = [f for _, f in dataframes(at) if "Written by" in f.columns]
    assert list(curated.columns) == [
        "Question",
        "Written by",
        "Written",
        "Cites",
        "Given",
        "Last given",
        "In use",
    ]
    assert curated["Last given"].isna().all()  # never given yet: an empty cell, not NaT
    # Re-asking the open group's wordings shows its table through the same helper.
    work_on(at, ids["Can I pay by invoice?"])
    run(button(at, "Re-ask against today's knowledge base").click())
    assert_for_people(at)
    [again] = [f for _, f in dataframes(at) if "Answered now" in f.columns]
    assert again["Question"].tolist() == ["Can I pay by invoice?"]


def test_the_freshness_page_shows_dates_in_the_readers_zone_and_blank_reviews(
    console: Console, page: Page
) -> None:
    for name, data in (("oven.md", OVEN), ("fridge.md", FRIDGE)):
        assert ingest_file(console, name, data, user="km@example.com").ok
    ids = {d.filename: d.id for d in document_freshness(console.engine, console.kb)}
    today = today_utc()
    set_review_by(console.engine, console.kb, ids["oven.md"], review_by=today - timedelta(days=3), user="km")
    mark_reviewed(console.engine, console.kb, ids["fridge.md"], user="km@example.com")
    at = page(str(REPO / "pages/freshness.py"))
    assert_for_people(at)
    [due] = [f for _, f in dataframes(at) if "Cited (answers in period)" in f.columns]
    assert list(due.columns) == [
        "Status", "Title", "File", "Owner", "Review by", "When", "Cited (answers in period)", "Version",
        "Last version", "Last reviewed", "Reviewed by",
    ]  # fmt: skip
    assert due["File"].tolist() == ["oven.md"] and due["Review by"].tolist() == [today - timedelta(days=3)]
    assert due["Reviewed by"].isna().all() and due["Last reviewed"].isna().all()  # never: empty cells
    assert str(due["Last version"].dt.tz) == "UTC"
    [never] = [f for _, f in dataframes(at) if "Rated-down answers citing it" not in f.columns
               and "Cited (answers in period)" not in f.columns]  # fmt: skip
    reviewed = never.set_index("File").loc["fridge.md"]
    assert reviewed["Reviewed by"] == "km@example.com" and isinstance(reviewed["Review by"], date)
    assert str(never["Last reviewed"].dt.tz) == "UTC"
