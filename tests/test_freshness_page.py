"""The Freshness page on a real database: due documents listed, "reviewed, still true", owners, dates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as stc
from streamlit.testing.v1 import AppTest

from rag.auth.audit import audit_entries
from rag.console import Console
from rag.ingest.pipeline import ingest_file
from rag.library.freshness import document_freshness, set_review_by, today_utc
from rag.text import escape_markdown
from tests.test_pages import APP, USER, button, open_page, pages_console, run, table

OVEN = b"# Oven\n\nThe oven preheats to 220 degrees in ten minutes."
FRIDGE = b"# Fridge\n\nThe fridge keeps food at 4 degrees."


@pytest.fixture
def console(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    yield from pages_console(database_url, tmp_path / "data", monkeypatch)


def ids(console: Console) -> dict[str, int]:
    return {d.filename: d.id for d in document_freshness(console.engine, console.kb)}


def test_an_empty_library_says_where_to_start(console: Console) -> None:
    at = open_page("pages/freshness.py")
    assert [t.value for t in at.title] == ["Document freshness"]
    assert any("The library is empty" in i.value for i in at.info)


def test_due_documents_are_listed_and_reviewed_still_true_moves_the_date(console: Console) -> None:
    for name, data in (("oven.md", OVEN), ("fridge.md", FRIDGE)):
        assert ingest_file(console, name, data, user="km@example.com").ok
    today = today_utc()
    oven = ids(console)["oven.md"]
    set_review_by(
        console.engine, console.kb, oven, review_by=today - timedelta(days=3), user="km@example.com"
    )

    at = open_page("pages/freshness.py")
    due = table(at, "Cited (answers in period)")
    assert list(due["File"]) == ["oven.md"]  # the fridge is not due for 180 days
    assert list(due["Status"]) == ["Overdue"] and list(due["When"]) == ["3 days overdue"]
    assert list(due["Owner"]) == ["km@example.com"] and list(due["Review by"]) == [today - timedelta(days=3)]
    assert {m.label: m.value for m in at.metric if m.label in ("Overdue", "Up to date")} == {
        "Overdue": "1",
        "Up to date": "1",
    }
    chosen = next(s for s in at.selectbox if s.label == "Document")
    assert chosen.format_func(chosen.value).startswith("Oven (oven.md): overdue")  # the riskiest first
    run(button(at, "Reviewed, still true").click())
    assert any("reviewed, next review by" in s.value for s in at.success)
    assert any("No document is due for review" in s.value for s in at.success)
    after = {d.id: d for d in document_freshness(console.engine, console.kb)}[oven]
    assert after.review_by == today + timedelta(days=180) and after.reviewed_by == USER
    [entry] = audit_entries(console.engine, action="document_reviewed")
    assert (entry.actor, entry.target, entry.detail["review_by"]) == (
        USER,
        "oven.md",
        (today + timedelta(days=180)).isoformat(),
    )


def test_owner_review_date_and_period_are_changed_from_the_page(console: Console) -> None:
    assert ingest_file(console, "oven.md", OVEN, user="km@example.com").ok
    at = open_page("pages/freshness.py")
    next(t for t in at.text_input if t.label == "Owner").set_value("  ")
    run(button(at, "Change owner").click())  # refused: the reason shown on the page, nothing changed
    assert [e.value for e in at.error] == [escape_markdown("Name the document's owner.")]
    assert [d.owner for d in document_freshness(console.engine, console.kb)] == ["km@example.com"]
    next(t for t in at.text_input if t.label == "Owner").set_value("grace@example.com")
    run(button(at, "Change owner").click())
    owned = f"now owned by {escape_markdown('grace@example.com')}"
    assert any(owned in s.value for s in at.success)
    soon = today_utc() + timedelta(days=10)
    next(d for d in at.date_input if d.label == "Review by").set_value(soon)
    run(button(at, "Change review date").click())
    [doc] = document_freshness(console.engine, console.kb)
    assert (doc.owner, doc.review_by, doc.status) == ("grace@example.com", soon, "due")
    assert list(table(at, "Cited (answers in period)")["Status"]) == ["Due soon"]

    run(next(n for n in at.number_input if n.label == "Days between reviews").set_value(90))
    run(button(at, "Save review period").click())
    assert any("Review period set to 90 days; 0 documents moved" in s.value for s in at.success)
    with console.engine.connect() as conn:
        days = conn.execute(
            sa.text("SELECT review_days FROM knowledge_bases WHERE id = :kb"), {"kb": console.kb.id}
        ).scalar_one()
    assert days == 90
    actions = [e.action for e in audit_entries(console.engine)]
    assert {"document_owner_set", "document_review_date_set", "review_days_set"} <= set(actions)


def test_the_documents_page_shows_owners_review_dates_and_filters_the_due(console: Console) -> None:
    for name, data in (("oven.md", OVEN), ("fridge.md", FRIDGE)):
        assert ingest_file(console, name, data, user="km@example.com").ok
    today = today_utc()
    oven = ids(console)["oven.md"]
    set_review_by(
        console.engine, console.kb, oven, review_by=today + timedelta(days=5), user="km@example.com"
    )
    stc.cache_resource.clear()
    at = run(AppTest.from_file(APP, default_timeout=120))
    run(at.switch_page("pages/documents.py"))
    library = table(at, "Title").set_index("File")
    assert (
        library.loc["oven.md", "Review"] == "due soon" and library.loc["fridge.md", "Review"] == "up to date"
    )
    assert library.loc["oven.md", "Review by"] == today + timedelta(days=5)
    assert set(library["Owner"]) == {"km@example.com"}
    run(next(t for t in at.toggle if t.label == "Only documents due for review").set_value(True))
    assert list(table(at, "Title")["File"]) == ["oven.md"]
