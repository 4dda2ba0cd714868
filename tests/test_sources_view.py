"""The sources under an answer, as an agent checks them: AppTest of the real Ask page and of the
sources drawn alone from passages with chosen scores (retrieval decides those on the page)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from rag.answer.cited_sentences import HIGHLIGHT
from rag.console import Console, open_console
from rag.ingest.pipeline import ingest_file
from rag.retrieval import Passage
from rag.settings import load_settings
from rag.text import escape_markdown
from tests.test_escaping import HOSTILE
from tests.test_pages import (  # noqa: F401  (fixtures)
    REFUND_WINDOW,
    OpenApp,
    app_env,
    execute,
    library_copy,
    open_app,
    query,
    run,
    sample_library,
)

HIGHLIGHTED = re.compile(rf":{HIGHLIGHT}\[((?:[^\]\\]|\\.)*)\]")
SCORE = re.compile(r"· score (\d\.\d\d)")
CITED = "Opened headphones can be returned within 14 days of delivery for a full refund."
RETURNS = (
    "# Returns\n\n"
    + "Our warehouse in Lyon ships orders every weekday morning. " * 10
    + f"{HOSTILE} is printed on every box. {CITED} Gift cards cannot be refunded."
)
SHIPPING = "# Shipping\n\nOrders over 50 euros ship free within France. Express delivery takes one day."


def headings(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**[")]


def _title(heading: str) -> str:
    """The document title in a source's heading "**[n] Title** ...", unescaped."""
    escaped = heading.split("] ", 1)[1].split("**", 1)[0]
    return re.sub(r"\\(.)", r"\1", escaped).replace("\u2060", "")


def highlighted(at: AppTest) -> list[str]:
    return [h for m in at.markdown for h in HIGHLIGHTED.findall(m.value)]


def test_the_ask_page_ranks_sources_by_score_and_highlights_the_cited_sentence(
    open_app: OpenApp,  # noqa: F811
    library_copy: str,  # noqa: F811
) -> None:
    execute(
        library_copy, "UPDATE documents SET review_by = DATE '2024-03-01' WHERE filename = 'refund-policy.md'"
    )
    at = run(open_app(library_copy))
    run(at.chat_input[0].set_value(REFUND_WINDOW["question"]))
    shown = headings(at)
    cited = at.session_state["chat"]["messages"][-1]["cited"]
    for group in (True, False):  # the cited sources, then the others (folded away): each by score
        scores = [float(SCORE.findall(h)[0]) for h in shown if (int(h[3 : h.index("]")]) in cited) is group]
        assert scores and scores == sorted(scores, reverse=True)
    assert any(REFUND_WINDOW["answer_contains"] in h.replace("\\", "") for h in highlighted(at))
    titles = {title: name for title, name in query(library_copy, "SELECT title, filename FROM documents")}
    overdue = [h for h in shown if "Review overdue since 1 Mar 2024" in h]
    assert overdue and all(titles[_title(h)] == "refund-policy.md" for h in overdue)
    assert [c for c in at.caption if c.value.startswith("Uploaded by ")]


# The sources alone, from passages whose scores and citations the test chooses.


@pytest.fixture
def console(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    for name, value in app_env(database_url, tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    console = open_console(load_settings())
    ingest_file(console, "returns.md", RETURNS.encode(), user="ann@example.com")
    ingest_file(console, "shipping.md", SHIPPING.encode(), user="bob@example.com")
    yield console
    console.engine.dispose()
    st.cache_resource.clear()


def passages(console: Console) -> list[Passage]:
    """[1] shipping scored lower than [2] returns: the order of the labels is not the ranking."""
    query = "SELECT c.id, d.id, d.title, d.filename, c.text FROM chunks c JOIN documents d ON d.id = c.document_id"
    with console.engine.connect() as conn:
        chunks = {row[3]: row for row in conn.execute(sa.text(query))}
    found = []
    for number, (filename, score) in enumerate([("shipping.md", 0.41), ("returns.md", 0.83)], start=1):
        chunk_id, document_id, title, _, text = chunks[filename]
        found.append(Passage(number, chunk_id, document_id, title, "Returns", text, score))
    return found


def draw(found: "list[Passage]", answer: str) -> None:  # noqa: UP037  (run as a script of its own)
    from ui.console import get_console
    from ui.sources import render_sources

    render_sources(get_console(), found, {1, 2}, answered=True, answer_text=answer, key="t")


def sources_app(console: Console, answer: str) -> AppTest:
    st.cache_resource.clear()
    return run(AppTest.from_function(draw, args=(passages(console), answer), default_timeout=60))


def test_sources_come_by_score_with_labels_kept_and_cited_sentences_highlighted(console: Console) -> None:
    at = sources_app(console, "Headphones can be returned within 14 days [2]. Express takes one day [1].")
    shown = headings(at)
    assert [h[:4] for h in shown] == ["**[2", "**[1"]
    assert [m.replace("\\", "") for m in highlighted(at)] == [
        CITED,  # the excerpt under [2]: past the old 500-character cut
        CITED,  # and in the whole passage, a click away
        "Express delivery takes one day.",
        "Express delivery takes one day.",
    ]
    facts = [c.value for c in at.caption if c.value.startswith("Uploaded by")]
    assert facts[0].startswith(escape_markdown("Uploaded by ann@example.com · changed") + " ")
    assert facts[0].endswith("UTC")  # no time zone from the browser in a test


def test_hostile_document_text_stays_escaped_when_highlighted(console: Console) -> None:
    at = sources_app(console, f"The box says {HOSTILE} [2].")
    everything = "\n".join(m.value for m in at.markdown)
    assert escape_markdown(HOSTILE) in everything
    assert "](https://evil" not in everything and "<b>" not in everything and ":red[" not in everything
    assert any(escape_markdown(HOSTILE) in h for h in highlighted(at))


def test_a_source_past_its_review_date_says_so_beside_it(console: Console) -> None:
    with console.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE documents SET review_by = DATE '2024-03-01' WHERE filename = 'returns.md'")
        )
    at = sources_app(console, "Headphones can be returned within 14 days [2].")
    returns, shipping = headings(at)
    assert returns.endswith(":orange-badge[:material/event_busy: Review overdue since 1 Mar 2024]")
    assert "Review overdue" not in shipping


def test_the_document_opens_at_the_cited_passage_with_its_text_to_download(console: Console) -> None:
    at = sources_app(console, "Headphones can be returned within 14 days [2].")
    run(next(b for b in at.button if b.key == f"open-t-2-{passages(console)[1].chunk_id}").click())
    assert [c.value for c in at.caption if c.value.startswith("Cited at")]
    assert "Download the document's text" in [d.proto.label for d in at.get("download_button")]
