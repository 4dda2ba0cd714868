"""The Latency and Cost pages through AppTest, on rows written directly: one day, several, none, and
a period that cost nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from db.models import Answer, AnswerSource, Document, ModelCall
from rag.console import Console
from rag.text import escape_markdown
from tests.test_pages import REPO, pages_console, run

LATENCY = str(REPO / "pages/analytics_latency.py")
COST = str(REPO / "pages/analytics_cost.py")
YESTERDAY = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), time(9), UTC)

Page = Callable[[str], AppTest]


@pytest.fixture
def console(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    yield from pages_console(database_url, tmp_path / "data", monkeypatch)


@pytest.fixture
def page(console: Console) -> Iterator[Page]:
    def open_page(script: str) -> AppTest:
        st.cache_resource.clear()
        return run(AppTest.from_file(script, default_timeout=120))

    yield open_page
    st.cache_resource.clear()


def add_answers(console: Console, *answers: tuple[datetime, float, float | None, str | None]) -> None:
    """Answers (asked at, total ms, the cost of its chat call: 0 on a local model, None unpriced,
    the title of the document it cited or None)."""
    with console.engine.begin() as conn:
        for created, total, cost, cited in answers:
            answer_id = conn.execute(
                sa.insert(Answer)
                .values(knowledge_base_id=console.kb.id, question=f"q at {created:%H:%M}", answer="...",
                        answered=True, answer_mode="offline", model="extractive",
                        embedding_model="all-MiniLM-L6-v2", user_name="agent", embed_ms=20, cache_ms=2,
                        retrieve_ms=15, generate_ms=total / 2, log_ms=6, first_token_ms=60, total_ms=total,
                        cost_usd=cost, state="done", created_at=created)
                .returning(Answer.id)
            ).scalar_one()  # fmt: skip
            model = "extractive" if cost == 0 else "mystery-model" if cost is None else "gpt-4o"
            conn.execute(sa.insert(ModelCall).values(call(created, "chat", model, cost, answer_id=answer_id)))
            if cited:
                document_id = conn.execute(sa.select(Document.id).where(Document.title == cited)).scalar()
                conn.execute(
                    sa.insert(AnswerSource).values(answer_id=answer_id, number=1, document_id=document_id,
                                                   document_title=cited, location="p. 1", snippet="...",
                                                   score=0.7, cited=True)
                )  # fmt: skip


def add_document(console: Console, title: str, created: datetime, cost: float | None) -> None:
    """A document and the embedding call that ingested it."""
    model = "all-MiniLM-L6-v2" if cost == 0 else "text-embedding-3-small"
    with console.engine.begin() as conn:
        document_id = conn.execute(
            sa.insert(Document)
            .values(knowledge_base_id=console.kb.id, title=title, filename=f"{title}.md", kind="markdown",
                    content_hash=title, size_bytes=10, chunk_count=1, token_count=5, uploaded_by="km")
            .returning(Document.id)
        ).scalar_one()  # fmt: skip
        values = call(created, "ingest_embedding", model, cost, answer_id=None) | {"document_id": document_id}
        conn.execute(sa.insert(ModelCall).values(values))


def call(
    created: datetime, purpose: str, model: str, cost: float | None, *, answer_id: int | None
) -> dict[str, Any]:
    return {"created_at": created, "purpose": purpose, "provider": "local", "model": model, "tokens_in": 400,
            "tokens_out": 40, "cost_usd": cost, "duration_ms": 5.0, "ok": True, "user_name": "agent",
            "answer_id": answer_id}  # fmt: skip


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table(at: AppTest, column: str) -> pd.DataFrame:
    [found] = [d.value for d in at.dataframe if column in d.value.columns]
    assert isinstance(found, pd.DataFrame)
    return found


def test_latency_of_a_single_day_compares_the_stages_instead_of_drawing_lines(
    console: Console, page: Page
) -> None:
    add_answers(console, *[(YESTERDAY + timedelta(minutes=i), 1000.0 * (i + 1), 0.0, None) for i in range(3)])
    at = page(LATENCY)
    assert metrics(at) == {
        "Answers timed": "3",
        "Mean total": "2.0 s",
        "Median total": "2.0 s",
        "95th percentile": "2.9 s",
    }
    assert chart_titles(at) == ["An average answer, stage by stage", f"Each stage on {YESTERDAY:%d %b %Y}",
                                "Total time of answers"]  # fmt: skip
    assert not at.selectbox  # one day: no stage to pick, no line of one point
    [note] = [c.value for c in at.caption if "of an average answer" in c.value]
    # Generation is half of each total: 1000 of the mean 2000 ms.
    assert note.startswith("Generation takes 50% of an average answer's 2.0 s.")
    slowest = table(at, "Question")
    assert list(slowest.columns[:6]) == ["Asked at", "Question", "Model", "Ended", "Error", "Total"]
    assert "Cache lookup" in slowest.columns and "Logging" in slowest.columns
    assert list(slowest["Total"]) == [3.0, 2.0, 1.0]  # shown in seconds: the typical total is over one
    assert list(slowest["Ended"]) == ["Finished"] * 3


def test_latency_of_several_days_stacks_the_stages_per_day(console: Console, page: Page) -> None:
    add_answers(console, (YESTERDAY - timedelta(days=1), 800.0, 0.0, None), (YESTERDAY, 1200.0, 0.0, None))
    at = page(LATENCY)
    titles = chart_titles(at)
    assert "Mean time per answer, by stage and day" in titles and "Total per day" in titles
    assert at.selectbox[0].options[:2] == ["total", "time to first text"]
    run(at.selectbox[0].set_value("cache_ms"))
    assert "Cache lookup per day" in chart_titles(at)


def test_latency_of_an_empty_period_says_so(page: Page) -> None:
    at = page(LATENCY)
    assert any("No questions were logged" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_a_period_on_local_models_shows_the_work_not_a_dollar_axis(console: Console, page: Page) -> None:
    add_document(console, "Returns", YESTERDAY, 0.0)
    add_answers(
        console, (YESTERDAY, 900.0, 0.0, "Returns"), (YESTERDAY + timedelta(hours=1), 700.0, 0.0, None)
    )
    at = page(COST)
    [free] = [s.value for s in at.success]
    assert free.startswith(
        "Everything in this period ran on local models, at no cost "
        f"({escape_markdown('all-MiniLM-L6-v2, extractive')})"
    )
    assert metrics(at) == {"Cost": "$0", "Model calls": "3", "Tokens in / out": "1,200 / 120", "Answers": "2"}
    assert chart_titles(at) == ["Model calls per day", "Input tokens per day"]
    documents = table(at, "Document")
    assert not [c for c in documents.columns if "cost" in c.lower()]
    assert documents.to_dict("records")[0] | {"Document id": None} == {
        "Document": "Returns",
        "Answers citing it": 1,
        "Ingestion calls": 1,
        "Ingestion tokens": 400,
        "Answer tokens": 0,
        "Without a price": 0,
        "Document id": None,
    }


def test_a_priced_period_shows_dollars_and_cost_per_document(console: Console, page: Page) -> None:
    add_document(console, "Returns", YESTERDAY - timedelta(days=1), 0.002)
    add_answers(
        console,
        (YESTERDAY - timedelta(days=1), 900.0, 0.01, "Returns"),
        (YESTERDAY, 700.0, 0.03, "Returns"),
        (YESTERDAY, 500.0, None, None),
    )
    at = page(COST)
    assert not at.success
    assert chart_titles(at) == ["Dollars per day", "Input tokens per day", "Average cost per answer"]
    assert metrics(at)["Cost"] == "$0.042"
    [unpriced] = [w.value for w in at.warning]
    assert unpriced.startswith(f"No price configured for: {escape_markdown('mystery-model')}. ")
    [returns] = table(at, "Document").to_dict("records")
    assert returns["Total cost"] == pytest.approx(0.042)
    assert (
        returns["Ingestion cost"],
        returns["Cost of answers citing it"],
        returns["Answers citing it"],
    ) == (
        pytest.approx(0.002),
        pytest.approx(0.04),
        2,
    )


def test_chart_labels_from_documents_show_their_html_as_text(console: Console, page: Page) -> None:
    """Plotly reads <a href>, <b> and <span style> in labels: a document title must not make one."""
    title = '<a href="https://evil.example">Refunds</a> & <b>more</b>'
    add_document(console, title, YESTERDAY, 0.0)
    add_answers(console, (YESTERDAY, 800.0, 0.0, title))
    at = page(str(REPO / "pages/analytics_overview.py"))
    [cited] = [
        trace
        for chart in at.get("plotly_chart")
        for trace in json.loads(chart.proto.spec)["data"]
        if trace.get("orientation") == "h"
    ]
    escaped = '&lt;a href="https://evil.example"&gt;Refunds&lt;/a&gt; &amp; &lt;b&gt;more&lt;/b&gt;'
    assert cited["y"] == [escaped]
    [ticks] = [
        json.loads(chart.proto.spec)["layout"]["yaxis"]["ticktext"]
        for chart in at.get("plotly_chart")
        if "ticktext" in json.loads(chart.proto.spec)["layout"]["yaxis"]
    ]
    assert ticks == ['&lt;a href="https://evil.example"&gt;Refunds&lt;…']  # cut, then escaped
