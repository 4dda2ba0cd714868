"""The Ask and Documents pages through AppTest: the real router, local model and offline answerer.

Loading the sample library embeds ~43 chunks, so it happens once per module; tests that need it
get their own copy of that database (CREATE DATABASE ... TEMPLATE) and can change it freely.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button, Widget

from rag.answer.not_known import NOT_KNOWN
from rag.console import Console, open_console
from rag.errors import ModelError
from rag.ingest.batch import sample_files
from rag.ingest.worker import run_worker
from rag.providers.embedder import Embedder, EmbeddingBatch
from rag.settings import load_settings
from rag.text import escape_markdown
from tests.conftest import copied_database
from tests.sample_files import make_pdf
from ui.console import get_console

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


def pages_console(database_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    """For a fixture to `yield from`: the pages' console (sign-in off: a manager). Its environment is
    the app's, so a page opened afterwards sees its rows."""
    env = app_env(database_url, data_dir)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    console = open_console(load_settings(env, secrets_file=None))
    yield console
    console.engine.dispose()
    st.cache_resource.clear()


def open_page(script: str) -> AppTest:
    """The page through the router (app.py), as a browser gets it, with the app's resources afresh."""
    st.cache_resource.clear()
    at = run(AppTest.from_file(APP, default_timeout=120))
    return run(at.switch_page(script))


def button(at: AppTest, label: str) -> Button:
    return next(b for b in at.button if b.label == label)


def table(at: AppTest, column: str) -> pd.DataFrame:
    """The page's table that has `column`: the library ("Title"), the jobs ("State"), the log ("Outcome")."""
    [found] = [d.value for d in at.dataframe if column in d.value.columns]
    assert isinstance(found, pd.DataFrame)
    return found


def library_titles(at: AppTest) -> list[str]:
    return list(table(at, "Title")["Title"])


def jobs(at: AppTest) -> dict[str, tuple[str, str]]:
    """The jobs panel as file -> (state, details)."""
    shown = table(at, "State")
    return {f: (s, d) for f, s, d in zip(shown["File"], shown["State"], shown["Details"], strict=True)}


def subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def run_queue(console: Console | None = None) -> None:
    """Run the queued jobs in this process, as a worker would, on the app's own console by default."""
    run_worker(console or get_console(), concurrency=2, wait=False, in_main_thread=False)


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


@dataclass(frozen=True)
class PageRightAfter:
    """What the Documents page showed right after a click, before any job ran."""

    toasts: list[str]
    jobs: dict[str, tuple[str, str]]
    captions: list[str]
    buttons: list[str]

    @classmethod
    def of(cls, at: AppTest) -> PageRightAfter:
        return cls(
            [t.value for t in at.toast], jobs(at), [c.value for c in at.caption], [b.label for b in at.button]
        )


SampleLibrary = tuple[str, AppTest, PageRightAfter]


@pytest.fixture(scope="module")
def sample_library(
    admin_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SampleLibrary]:
    """A database loaded through the sample button, and the Documents page once its jobs ran.

    Also yields the page right after the click, when the files were only queued."""
    with copied_database(admin_url, template_db) as url:
        with pytest.MonkeyPatch.context() as mp:
            for var, value in app_env(url, tmp_path_factory.mktemp("data")).items():
                mp.setenv(var, value)
            st.cache_resource.clear()
            at = run(AppTest.from_file(APP, default_timeout=120))
            run(at.switch_page("pages/documents.py"))
            run(button(at, "Load the sample knowledge base").click())
            queued = PageRightAfter.of(at)
            run_queue()
            run(at)
            st.cache_resource.clear()
        # The cached console's pooled connections would stop the database serving as a template.
        name = str(make_url(url).database)
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        _disconnect(admin, name)
        admin.dispose()
        yield name, at, queued


@pytest.fixture
def library_copy(admin_url: str, sample_library: SampleLibrary) -> Iterator[str]:
    """A private copy of the sample library's database for one test."""
    template, _, _ = sample_library
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


def execute(database_url: str, sql: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
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
    assert subheaders(at) == ["Uploads", "Library (0 documents)"]
    assert any("The library is empty. Upload PDF" in i.value for i in at.info)
    assert any(c.value.startswith("No uploads in the last 24 hours.") for c in at.caption)
    assert button(at, "Load the sample knowledge base")
    assert not at.dataframe and not at.expander  # no jobs, no library, no upload log, no sync folders


def test_sample_button_loads_the_seven_files(sample_library: SampleLibrary) -> None:
    _, at, right_after = sample_library
    names = sorted(p.name for p in sample_files())
    # The click only queued them: the page returned at once, and the jobs waited for a worker.
    assert right_after.toasts == ["Queued the 7 sample files."]
    assert sorted(right_after.jobs) == names
    assert set(right_after.jobs.values()) == {("Queued", "Waiting for a worker")}
    assert "The library fills as the queued files are indexed." in right_after.captions
    assert "Load the sample knowledge base" not in right_after.buttons  # no second click meanwhile

    assert subheaders(at)[1] == "Library (7 documents)"
    library = table(at, "Title")
    assert sorted(library["File"]) == names
    assert (library["Chunks"] > 0).all() and set(library["By"]) == {USER}
    shown = table(at, "State")
    assert set(shown["State"]) == {"Ingested"} and set(shown["Uploaded by"]) == {USER}
    assert shown["Progress"].isna().all()
    chunks = dict(zip(library["File"], library["Chunks"], strict=True))
    for file, details in zip(shown["File"], shown["Details"], strict=True):
        assert re.match(rf"{chunks[file]} chunks?, [\d,]+ tokens", details), details
    assert not at.error and not at.toast
    assert not [b for b in at.button if b.label == "Load the sample knowledge base"]


def test_upload_queues_each_file_and_shows_how_it_ended(open_app: OpenApp, database_url: str) -> None:
    at = run(open_app(database_url, MAX_UPLOAD_MB="0.05"))
    run(at.switch_page("pages/documents.py"))
    uploader = at.file_uploader[0]
    assert "up to 0.05 MB each" in uploader.label
    assert uploader.accept_multiple_files and {".pdf", ".md", ".txt"} <= set(uploader.allowed_type)

    run(button(at, "Upload and index").click())
    assert [w.value for w in at.warning if "worker" not in w.value] == ["Choose one or more files first."]

    pdf = make_pdf(["The orbital kitchen oven preheats to 220 degrees Celsius."], title="Oven manual")
    at.file_uploader[0].set_value(
        [
            ("oven.pdf", pdf, "application/pdf"),
            ("notes_[draft].txt", bytes(range(256)) * 8, "text/plain"),
            ("huge.md", b"# Huge\n\n" + b"word " * 20_000, "text/markdown"),
        ]
    )
    run(button(at, "Upload and index").click())
    # Queued, not indexed: the names are shown as text, not Markdown.
    [queued] = [s.value for s in at.success]
    assert queued.startswith("Queued 3 files: oven\\.pdf, notes\\_\\[draft\\]\\.txt, huge\\.md.")
    assert jobs(at) == {
        name: ("Queued", "Waiting for a worker") for name in ("oven.pdf", "notes_[draft].txt", "huge.md")
    }
    assert table(at, "State")["Progress"].tolist() == [0, 0, 0]
    assert subheaders(at)[1] == "Library (0 documents)"

    run_queue()
    run(at)
    shown = jobs(at)
    assert shown["oven.pdf"][0] == "Ingested" and shown["oven.pdf"][1].startswith("1 chunk,")
    assert shown["notes_[draft].txt"][0] == "Rejected" and "binary data" in shown["notes_[draft].txt"][1]
    assert shown["huge.md"][0] == "Rejected" and "the limit is 0.05 MB" in shown["huge.md"][1]
    assert not at.success  # the queued message belonged to the click
    assert library_titles(at) == ["Oven manual"]
    assert sorted(table(at, "Outcome")["Outcome"]) == ["Ingested", "Rejected", "Rejected"]
    # clear_on_submit empties the form: submitting again uploads nothing, not three more files.
    run(button(at, "Upload and index").click())
    assert "Choose one or more files first." in [w.value for w in at.warning]
    assert len(table(at, "Outcome")) == 3 and len(table(at, "State")) == 3


def _upload(at: AppTest, files: dict[str, bytes]) -> AppTest:
    at.file_uploader[0].set_value([(name, data, "text/plain") for name, data in files.items()])
    return run(button(at, "Upload and index").click())


def _choose(at: AppTest, label: str, filename: str) -> None:
    box = next(s for s in at.selectbox if s.label == label)
    [job] = [o for o in box.options if o.startswith(f"{filename} (job ")]
    box.set_value(int(job.split("(job ")[1].split(",")[0]))  # the box's value is the job's id


def test_a_cancelled_job_never_runs(open_app: OpenApp, database_url: str) -> None:
    at = run(open_app(database_url))
    run(at.switch_page("pages/documents.py"))
    _upload(at, {"keep.txt": b"The boiler is serviced every spring.", "drop.txt": b"Do not index me."})
    assert not [b for b in at.button if b.label == "Retry upload"]
    _choose(at, "Cancel a queued or running upload", "drop.txt")
    run(button(at, "Cancel upload").click())
    assert [t.value for t in at.toast] == ["Cancelled **drop\\.txt**: it will not be indexed."]
    assert jobs(at)["drop.txt"] == ("Cancelled", "Cancelled before it started.")
    assert jobs(at)["keep.txt"][0] == "Queued"

    run_queue()
    run(at)
    assert jobs(at)["drop.txt"] == ("Cancelled", "Cancelled before it started.")
    assert jobs(at)["keep.txt"][0] == "Ingested"
    assert table(at, "Title")["File"].tolist() == ["keep.txt"]
    assert query(database_url, "SELECT filename FROM ingestion_events") == [("keep.txt",)]
    assert query(database_url, "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'") == [(0,)]
    # Nothing is running any more, so there is nothing to cancel; a cancelled job can be retried.
    assert not [b for b in at.button if b.label == "Cancel upload"]
    assert button(at, "Retry upload")


class _RefusingEmbedder:
    """The app's embedder, except that the provider refuses every call (not worth retrying)."""

    def __init__(self, real: Embedder) -> None:
        self.provider, self.model = real.provider, real.model
        self.max_input_tokens, self.dimensions = real.max_input_tokens, real.dimensions

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        raise ModelError("The embedding service refused the request (injected).", code="auth")


def test_a_failed_job_is_retried_from_the_page(open_app: OpenApp, database_url: str) -> None:
    at = run(open_app(database_url))
    run(at.switch_page("pages/documents.py"))
    _upload(at, {"boiler.txt": b"The boiler is serviced every spring."})
    app_console = get_console()
    run_queue(replace(app_console, embedder=_RefusingEmbedder(app_console.embedder)))
    run(at)
    state, reason = jobs(at)["boiler.txt"]
    assert (
        state == "Failed"
        and reason == "Embedding failed: The embedding service refused the request (injected)."
    )
    assert subheaders(at)[1] == "Library (0 documents)"

    _choose(at, "Retry a failed or cancelled upload", "boiler.txt")
    run(button(at, "Retry upload").click())
    assert [t.value for t in at.toast] == ["Queued **boiler\\.txt** again."]
    assert jobs(at)["boiler.txt"] == ("Queued", "Waiting for a worker")
    run_queue()
    run(at)
    assert jobs(at)["boiler.txt"][0] == "Ingested"
    assert library_titles(at) and subheaders(at)[1] == "Library (1 document)"
    assert len(table(at, "State")) == 1  # the same job, run again


def test_the_page_says_when_no_worker_is_running(open_app: OpenApp, database_url: str) -> None:
    at = run(open_app(database_url))
    run(at.switch_page("pages/documents.py"))
    notice = "No worker is running: start one with `python -m rag worker`; queued files wait until then."
    assert [w.value for w in at.warning] == [notice]
    execute(database_url, "INSERT INTO procrastinate_workers DEFAULT VALUES")  # a live heartbeat
    _upload(at, {"boiler.txt": b"The boiler is serviced every spring."})
    assert not at.warning
    assert jobs(at)["boiler.txt"] == ("Queued", "Waiting for its turn")
    execute(database_url, "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'")
    run(at)
    assert [w.value for w in at.warning] == [notice]


def test_a_server_folder_is_synced_only_when_one_is_configured(
    open_app: OpenApp, database_url: str, tmp_path: Path
) -> None:
    at = run(open_app(database_url))
    run(at.switch_page("pages/documents.py"))
    assert not [e for e in at.expander if e.label == "Sync a server folder"]

    docs, other = tmp_path / "shared_docs", tmp_path / "other"
    docs.mkdir()
    other.mkdir()
    (docs / "boiler.txt").write_text("The boiler is serviced every spring.", encoding="utf-8")
    (docs / "keys.md").write_text("# Keys\n\nSpare keys are at the front desk.", encoding="utf-8")
    at = run(open_app(database_url, SYNC_FOLDERS=os.pathsep.join([str(docs), str(other)])))
    run(at.switch_page("pages/documents.py"))
    assert [e.label for e in at.expander] == ["Sync a server folder"]
    folders = next(s for s in at.selectbox if s.label == "Folder")
    assert folders.options == [str(docs.resolve()), str(other.resolve())]
    assert not at.text_input  # a folder is chosen from the setting, never typed
    run(button(at, "Sync now").click())
    [report] = [s.value for s in at.success]
    assert report.endswith(escape_markdown("2 new, 0 changed, 0 removed, 0 unchanged"))
    assert "shared\\_docs" in report
    assert jobs(at) == {
        "boiler.txt": ("Queued", "Waiting for a worker"),
        "keys.md": ("Queued", "Waiting for a worker"),
    }
    run_queue()
    run(at)
    assert sorted(library_titles(at)) == ["Keys", "boiler"]

    (docs / "keys.md").unlink()
    run(button(at, "Sync now").click())
    [report] = [s.value for s in at.success]
    assert report.endswith(escape_markdown("0 new, 0 changed, 1 removed, 1 unchanged"))
    assert "Removed from the library (their files are gone):" in [c.value for c in at.caption]
    assert [t.value for t in at.text] == ["keys.md"]
    assert library_titles(at) == ["boiler"]


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
    assert messages[-2].children[0].value == escape_markdown(question["question"])  # as typed
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
    chooser = next(s for s in at.selectbox if s.label == "Document")
    assert len(chooser.options) == 7
    chooser.select(refund_id)
    run(at)
    assert next(s for s in at.selectbox if s.label == "Document").value == refund_id
    assert button(at, "Delete").disabled  # not before the box is ticked
    at.checkbox[0].check()
    run(at)
    run(button(at, "Delete").click())

    after = library_titles(at)
    assert len(after) == 6 and "Northwind Cloud Refund Policy" not in after
    assert subheaders(at)[1] == "Library (6 documents)"
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
    from rag.demo import generate_demo_data

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
