"""The Ask and Documents pages through AppTest: the real router, local model and offline answerer.

Loading the sample library embeds ~43 chunks, so it happens once per module; tests that need it
get their own copy of that database (CREATE DATABASE ... TEMPLATE) and can change it freely.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button, Widget

from rag.answer.not_known import NOT_KNOWN
from rag.ingest.batch import sample_files
from tests.conftest import copied_database
from tests.sample_files import make_pdf

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
USER = "page-test"
QUESTIONS = json.loads((REPO / "samples" / "questions.json").read_text(encoding="utf-8"))
REFUND_WINDOW = next(
    q for q in QUESTIONS if q["answer_contains"] == "within 30 days of the original purchase date"
)
REFUND_DELAY = next(q for q in QUESTIONS if q["answer_contains"] == "5-10 business days")
DARK_MODE = next(q for q in QUESTIONS if "dark mode" in q["question"])

OpenApp = Callable[..., AppTest]


def app_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "CONSOLE_USER": USER,
        "EMBEDDING_PROVIDER": "local",
        "ANSWER_MODE": "offline",
        # Not about sign-in (tests/test_access.py is): everyone is CONSOLE_USER, a manager.
        "AUTH_MODE": "off",
        **extra,
    }


def run(target: AppTest | Widget) -> AppTest:
    """Run the script (after a widget change, if given one) and fail on any exception it raised."""
    at = target.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def button(at: AppTest, label: str) -> Button:
    return next(b for b in at.button if b.label == label)


def library_titles(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["Title"])


@pytest.fixture
def open_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[OpenApp]:
    """An AppTest of app.py whose console is opened on `database_url` (cache cleared first)."""

    def start(database_url: str, **extra: str) -> AppTest:
        for name, value in app_env(database_url, tmp_path / "data", **extra).items():
            monkeypatch.setenv(name, value)
        st.cache_resource.clear()
        return AppTest.from_file(APP, default_timeout=120)

    yield start
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def sample_library(
    admin_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, AppTest]]:
    """A database loaded through the sample button, and the Documents page right after the click."""
    with copied_database(admin_url, template_db) as url:
        with pytest.MonkeyPatch.context() as mp:
            for var, value in app_env(url, tmp_path_factory.mktemp("data")).items():
                mp.setenv(var, value)
            st.cache_resource.clear()
            at = run(AppTest.from_file(APP, default_timeout=120))
            run(at.switch_page("pages/documents.py"))
            run(button(at, "Load the sample knowledge base").click())
            st.cache_resource.clear()
        # The cached console's pooled connections would stop the database serving as a template.
        name = str(make_url(url).database)
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        _disconnect(admin, name)
        admin.dispose()
        yield name, at


@pytest.fixture
def library_copy(admin_url: str, sample_library: tuple[str, AppTest]) -> Iterator[str]:
    """A private copy of the sample library's database for one test."""
    template, _ = sample_library
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    _disconnect(admin, template)
    admin.dispose()
    with copied_database(admin_url, template) as url:
        yield url


def query(database_url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def _document_id(database_url: str, filename: str) -> int:
    [(document_id,)] = query(database_url, "SELECT id FROM documents WHERE filename = :f", f=filename)
    assert isinstance(document_id, int)
    return document_id


def _disconnect(admin: sa.Engine, database: str) -> None:
    with admin.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"),
            {"db": database},
        )


def test_empty_library_shows_where_to_start(open_app: OpenApp, database_url: str) -> None:
    at = run(open_app(database_url))
    assert at.title[0].value == "Ask the knowledge base"
    assert any("The library is empty" in i.value for i in at.info)
    assert not at.chat_message

    run(at.switch_page("pages/documents.py"))
    assert at.title[0].value == "Documents"
    assert at.subheader[0].value == "Library (0 documents)"
    assert any("The library is empty. Upload PDF" in i.value for i in at.info)
    assert button(at, "Load the sample knowledge base")
    assert not at.dataframe


def test_sample_button_loads_the_seven_files(sample_library: tuple[str, AppTest]) -> None:
    _, at = sample_library
    assert at.subheader[0].value == "Library (7 documents)"
    table = at.dataframe[0].value
    assert sorted(table["File"]) == sorted(p.name for p in sample_files())
    assert (table["Chunks"] > 0).all() and set(table["By"]) == {USER}
    assert len(at.success) == 7 and all(": ingested." in s.value for s in at.success)
    assert not at.error and not at.info
    assert not [b for b in at.button if b.label == "Load the sample knowledge base"]


def test_upload_reports_each_file(open_app: OpenApp, database_url: str) -> None:
    at = run(open_app(database_url, MAX_UPLOAD_MB="0.05"))
    run(at.switch_page("pages/documents.py"))
    uploader = at.file_uploader[0]
    assert "up to 0.05 MB each" in uploader.label
    assert uploader.accept_multiple_files and {".pdf", ".md", ".txt"} <= set(uploader.allowed_type)

    run(button(at, "Upload and index").click())
    assert [w.value for w in at.warning] == ["Choose one or more files first."]

    pdf = make_pdf(["The orbital kitchen oven preheats to 220 degrees Celsius."], title="Oven manual")
    at.file_uploader[0].set_value(
        [
            ("oven.pdf", pdf, "application/pdf"),
            ("notes.txt", bytes(range(256)) * 8, "text/plain"),
            ("huge.md", b"# Huge\n\n" + b"word " * 20_000, "text/markdown"),
        ]
    )
    run(button(at, "Upload and index").click())
    assert len(at.success) == 1 and at.success[0].value.startswith("**oven.pdf**: ingested. 1 chunk,")
    errors = [e.value for e in at.error]
    assert len(errors) == 2
    assert errors[0].startswith("**notes.txt**: rejected.") and "binary data" in errors[0]
    assert errors[1].startswith("**huge.md**: rejected.") and "the limit is 0.05 MB" in errors[1]
    assert library_titles(at) == ["Oven manual"]
    events = at.dataframe[1].value
    assert sorted(events["outcome"]) == ["ingested", "rejected", "rejected"]
    # clear_on_submit empties the form: submitting again uploads nothing, not three more files.
    run(button(at, "Upload and index").click())
    assert [w.value for w in at.warning] == ["Choose one or more files first."]
    assert len(at.dataframe[1].value) == 3


def test_ask_cites_follows_up_starts_over_and_admits_gaps(open_app: OpenApp, library_copy: str) -> None:
    at = run(open_app(library_copy))
    assert not at.info  # no empty-library notice

    run(at.chat_input[0].set_value(REFUND_WINDOW["question"]))
    first = _check_answer(at, library_copy, REFUND_WINDOW, turn=1)

    run(at.chat_input[0].set_value(REFUND_DELAY["question"]))
    second = _check_answer(at, library_copy, REFUND_DELAY, turn=2)
    assert first == second  # both answers are in one conversation

    run(button(at, "New conversation").click())
    assert not at.chat_message
    assert at.session_state["chat"] == {"conversation_id": None, "messages": []}

    run(at.chat_input[0].set_value(DARK_MODE["question"]))
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert at.chat_message[1].children[0].value == NOT_KNOWN
    assert "Logged as unanswered" in at.caption[0].value
    assert at.session_state["chat"]["conversation_id"] not in (None, first)


def _check_answer(at: AppTest, database_url: str, question: dict[str, str], *, turn: int) -> uuid.UUID:
    """The page shows `turn` exchanges and the last answer quotes and cites the right document."""
    messages = at.chat_message
    assert [m.name for m in messages] == ["user", "assistant"] * turn
    shown = [c.value for c in messages[-1].children.values() if c.type == "markdown"]
    assert messages[-2].children[0].value == question["question"]
    assert question["answer_contains"] in shown[0]
    assert re.search(r"\[\d\]", shown[0]) and "**Sources**" in shown
    state = at.session_state["chat"]
    last = state["messages"][-1]
    assert last["answered"] and last["cited"]
    filenames = dict(query(database_url, "SELECT id, filename FROM documents"))
    answers = query(
        database_url,
        "SELECT count(*) FROM answers WHERE conversation_id = :c AND user_name = :u",
        c=state["conversation_id"],
        u=USER,
    )
    cited = [p for p in last["passages"] if p.number in last["cited"]]
    assert any(
        filenames[p.document_id] == question["document"] and question["answer_contains"] in p.text
        for p in cited
    )
    assert answers == [(turn,)]
    conversation_id: uuid.UUID = state["conversation_id"]
    return conversation_id


def test_delete_removes_a_document(open_app: OpenApp, library_copy: str) -> None:
    at = run(open_app(library_copy))
    run(at.switch_page("pages/documents.py"))
    before = library_titles(at)
    assert len(before) == 7 and "Northwind Cloud Refund Policy" in before

    refund_id = _document_id(library_copy, "refund-policy.md")
    chooser = at.selectbox[0]
    assert len(chooser.options) == 7
    chooser.select(refund_id)
    run(at)
    assert at.selectbox[0].value == refund_id
    assert button(at, "Delete").disabled  # not before the box is ticked
    at.checkbox[0].check()
    run(at)
    run(button(at, "Delete").click())

    after = library_titles(at)
    assert len(after) == 6 and "Northwind Cloud Refund Policy" not in after
    assert at.subheader[0].value == "Library (6 documents)"
    assert query(library_copy, "SELECT count(*) FROM chunks WHERE document_id = :d", d=refund_id) == [(0,)]


def test_evaluation_page_scores_a_golden_set(open_app: OpenApp, library_copy: str) -> None:
    at = run(open_app(library_copy))
    run(at.switch_page("pages/evaluation.py"))
    assert at.title[0].value == "Evaluate retrieval"
    golden = b"question,document\nHow long is a password reset link valid?,password-reset-and-2fa.txt\nWhen is weekly maintenance?,service-level-agreement.html\n"
    at.file_uploader[0].set_value([("golden.csv", golden, "text/csv")])
    run(at)
    run(button(at, "Run the evaluation").click())
    scores = at.dataframe[0].value
    assert list(scores["Mode"]) == ["Hybrid (default)", "Vectors only", "Keywords only"]
    assert set(scores["Questions"]) == {2}
    assert scores["Recall@10"].min() > 0.0


def test_thumbs_down_asks_why_and_is_stored_with_the_answer(open_app: OpenApp, library_copy: str) -> None:
    at = run(open_app(library_copy))
    run(at.chat_input[0].set_value("How long is a password reset link valid?"))
    assert len(at.feedback) == 1
    run(at.feedback[0].set_value(1))
    assert query(library_copy, "SELECT rating, reason FROM feedback") == [(1, None)]
    run(at.feedback[0].set_value(0))
    assert query(library_copy, "SELECT rating, reason FROM feedback") == [(-1, None)]
    at.radio[0].set_value("outdated")
    at.text_input[0].set_value("The link now lasts an hour.")
    run(button(at, "Send feedback").click())
    rows = query(
        library_copy,
        "SELECT f.rating, f.reason, f.comment, f.user_name, a.question FROM feedback f JOIN answers a ON a.id = f.answer_id",
    )
    assert rows == [
        (
            -1,
            "outdated",
            "The link now lasts an hour.",
            "page-test",
            "How long is a password reset link valid?",
        )
    ]


def test_analytics_pages_show_demo_traffic_only_when_asked(open_app: OpenApp, library_copy: str) -> None:
    from rag.console import open_console
    from rag.demo import generate_demo_data
    from rag.settings import load_settings

    at = run(open_app(library_copy))
    console = open_console(load_settings(secrets_file=None))  # the app's settings, from the environment
    generate_demo_data(console, days=14, answers=600, seed=7)
    console.engine.dispose()
    run(at.switch_page("pages/analytics_overview.py"))
    # Real data only by default: the library copy has no answers yet.
    assert any("No questions were logged" in i.value for i in at.info)
    pages = {
        "pages/analytics_overview.py": 2,
        "pages/analytics_cost.py": 3,
        "pages/analytics_latency.py": 2,
        "pages/analytics_unanswered.py": 0,
    }
    next(t for t in at.toggle if t.label == "Show demo data").set_value(True)
    for page, charts in pages.items():
        run(at.switch_page(page))
        assert not at.exception, page
        assert any("demo data" in w.value for w in at.warning), page
        assert len(at.get("plotly_chart")) >= charts, page
        assert at.dataframe or page.endswith("overview.py"), page
    groups = at.dataframe[0].value
    assert groups["Asked"].sum() > 0 and set(groups["Why flagged"]) - {""}
