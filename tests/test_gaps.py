"""The gap loop on a real database with the real local model: assign, re-ask after ingestion, confirm.

The last test runs the loop in a real worker process (`python -m rag worker`).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from db.models import Answer, Gap
from rag.analytics.gap_loop import LOOP_USER, recheck_gaps
from rag.analytics.gaps import assign_group, confirm_answered, reject_answered
from rag.analytics.period import Period
from rag.analytics.resolution import resolution_times, resolution_trend
from rag.analytics.unanswered import UnansweredGroup, reopen_group, resolve_group, unanswered_groups
from rag.answer.pipeline import prepare, stream
from rag.auth.audit import audit_entries
from rag.console import Console
from rag.errors import InvalidInput
from rag.ingest.pipeline import ingest_file
from rag.providers.extractive import ExtractiveGenerator
from rag.providers.local_embedder import LocalEmbedder
from tests.conftest import ConsoleFactory
from tests.test_unanswered import DISCOUNT, EXCEL, EXPORT, SECURITY
from tests.workers import open_app, running_workers, wait_until, worker_env


def ask(console: Console, question: str) -> None:
    result = prepare(console, question, user="agent")
    for _ in stream(result):
        pass


def groups(console: Console) -> list[UnansweredGroup]:
    day = date.today()
    return unanswered_groups(
        console.engine,
        start=day - timedelta(days=1),
        end=day + timedelta(days=1),
        demo=False,
        threshold=console.settings.min_relevance,
    )


def flag(console: Console) -> None:
    assert ingest_file(console, "security.md", SECURITY, user="km").ok
    for question in [*EXCEL, *DISCOUNT]:
        ask(console, question)


@pytest.fixture
def console(make_console: ConsoleFactory, local_embedder: LocalEmbedder) -> Console:
    console = make_console(embedder=local_embedder, generator=ExtractiveGenerator(embedder=local_embedder))
    flag(console)
    return console


def test_a_group_is_assigned_answered_by_a_new_document_and_confirmed(console: Console) -> None:
    excel, discount = groups(console)
    assert (excel.state, excel.gap_id, discount.state) == ("open", None, "open")
    due = date.today() + timedelta(days=7)
    gap_id = assign_group(console.engine, excel.answer_ids, assignee="grace", due_on=due, user="km")
    excel = groups(console)[0]
    assert (excel.state, excel.gap_id, excel.assignee, excel.due_on) == ("assigned", gap_id, "grace", due)
    assert excel.question == EXCEL[-1]  # the gap keeps the latest wording as its question
    [entry] = audit_entries(console.engine, action="gap_assigned")
    assert (entry.actor, entry.detail["assignee"], entry.detail["due_on"]) == ("km", "grace", due.isoformat())

    # The library did not change since the questions: nothing the re-asks find is new.
    first = recheck_gaps(console)
    assert sorted(first.reasked) == sorted([EXCEL[-1], DISCOUNT[-1]]) and first.answered == []
    assert recheck_gaps(console).skipped == "no new documents"

    assert ingest_file(console, "export.md", EXPORT, user="km").ok
    second = recheck_gaps(console)
    assert len(second.reasked) == 2 and second.answered == [gap_id]
    excel, discount = groups(console)
    assert (excel.state, excel.answered_document, discount.state) == ("answered", "Exporting data", "open")
    assert excel.proposed_answer and "Excel" in excel.proposed_answer
    assert recheck_gaps(console).skipped == "no new documents"  # idempotent
    with console.engine.connect() as conn:
        reasks = conn.execute(
            sa.text("SELECT count(*) FROM answers WHERE kind = 'reask' AND user_name = :u"), {"u": LOOP_USER}
        ).scalar_one()
    assert reasks == 4

    assert confirm_answered(console.engine, gap_id, user="grace") == 3
    excel = groups(console)[0]
    assert (
        excel.state == "resolved" and excel.resolved and excel.resolution_note == "Answered by Exporting data"
    )
    assert excel.time_to_resolve is not None and excel.time_to_resolve > timedelta(0)
    with pytest.raises(InvalidInput, match="confirmed"):
        confirm_answered(console.engine, gap_id, user="grace")

    period = Period(date.today() - timedelta(days=1), date.today() + timedelta(days=1))
    [row] = resolution_times(console.engine, period).to_dict("records")
    assert (row["gap_id"], row["answered_document"], row["resolved_by"]) == (
        gap_id,
        "Exporting data",
        "grace",
    )
    assert 0 < row["days_to_resolve"] < 1
    trend = resolution_trend(console.engine, period)
    assert trend["resolved"].sum() == 1 and trend["median_days"].dropna().tolist() == [row["days_to_resolve"]]

    [confirmed] = audit_entries(console.engine, action="gap_confirmed")
    assert (confirmed.actor, confirmed.detail["gap_id"]) == ("grace", gap_id)


def test_a_rejected_answer_goes_back_to_its_assignee_or_to_open(console: Console) -> None:
    excel = groups(console)[0]
    assert ingest_file(console, "export.md", EXPORT, user="km").ok
    [gap_id] = recheck_gaps(console).answered  # found without anyone assigning it
    assert groups(console)[0].state == "answered" and groups(console)[0].assignee is None
    assert reject_answered(console.engine, gap_id, user="km", note="Not the right export") == "open"
    group = groups(console)[0]
    assert (group.state, group.answered_document, group.gap_id) == ("open", None, gap_id)
    assign_group(console.engine, excel.answer_ids, assignee="grace", due_on=None, user="km")
    with console.engine.begin() as conn:
        conn.execute(sa.update(Gap).where(Gap.id == gap_id).values(state="answered"))
    assert reject_answered(console.engine, gap_id, user="km") == "assigned"
    with pytest.raises(InvalidInput, match="rejected"):
        reject_answered(console.engine, gap_id, user="km")


def test_resolving_by_hand_keeps_a_gap_and_reopening_returns_it(console: Console) -> None:
    excel = groups(console)[0]
    assert resolve_group(console.engine, excel.answer_ids, user="km", note="Wrote it up") == 3
    resolved = groups(console)[0]
    assert resolved.state == "resolved" and resolved.gap_id is not None and resolved.time_to_resolve
    assert reopen_group(console.engine, excel.answer_ids) == 3
    assert groups(console)[0].state == "open" and groups(console)[0].gap_id == resolved.gap_id
    with console.engine.connect() as conn:
        linked = conn.execute(sa.select(sa.func.count()).where(Answer.gap_id == resolved.gap_id)).scalar_one()
    assert linked == 3


def test_a_running_loop_holds_a_lease_the_others_respect(console: Console) -> None:
    with console.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO gap_loop_state (knowledge_base_id, running_until) "
                "VALUES (:kb, now() + interval '1 minute')"
            ),
            {"kb": console.kb.id},
        )
    assert recheck_gaps(console).skipped == "another worker is checking"
    with console.engine.begin() as conn:  # the lease of a run that died expires
        conn.execute(sa.text("UPDATE gap_loop_state SET running_until = now() - interval '1 second'"))
    assert len(recheck_gaps(console).reasked) == 2


def test_a_worker_marks_a_group_answered_after_a_covering_document_is_ingested(
    database_url: str, tmp_path: Path
) -> None:
    env = worker_env(database_url, tmp_path / "data", GAP_LOOP_SCHEDULE="* * * * * */2")
    app = open_app(env)
    try:
        flag(app)
        assert ingest_file(app, "export.md", EXPORT, user="km").ok
        with running_workers(env, log_dir=tmp_path / "workers") as workers:
            workers.start(1)

            def answered() -> UnansweredGroup | None:
                workers.check_running()
                excel = groups(app)[0]
                return excel if excel.state == "answered" else None

            excel = wait_until(answered, what="the worker's gap loop to answer the Excel group", timeout=120)
        assert excel.answered_document == "Exporting data" and excel.examples == EXCEL[::-1]
        assert groups(app)[1].state == "open"
    finally:
        app.engine.dispose()


def test_demo_data_covers_every_state_and_is_removed_with_it(make_console: ConsoleFactory) -> None:
    from rag.demo import generate_demo_data, remove_demo_data
    from rag.library.freshness import document_freshness

    console = make_console()
    for name in ("refunds.md", "pricing.md", "sync.md"):
        assert ingest_file(console, name, f"# {name}\n\nAbout {name}.".encode(), user="km").ok
    defaults = {d.id: d.review_by for d in document_freshness(console.engine, console.kb)}
    summary = generate_demo_data(console, days=20, answers=2000, seed=5)
    assert (summary.gaps, summary.review_dates) == (5, 2) and summary.curated > 0
    day = date.today()
    demo_groups = unanswered_groups(
        console.engine,
        start=day - timedelta(days=21),
        end=day,
        demo=True,
        threshold=console.settings.min_relevance,
    )
    states = {g.state for g in demo_groups}
    assert states == {"open", "assigned", "answered", "resolved"}
    overdue = [g for g in demo_groups if g.due_on and g.due_on < day]
    assert len(overdue) == 1 and all(g.time_to_resolve for g in demo_groups if g.state == "resolved")
    statuses = sorted(d.status for d in document_freshness(console.engine, console.kb))
    assert statuses == ["due", "ok", "overdue"]
    assert groups(console) == []  # real figures untouched
    period = Period(day - timedelta(days=21), day, demo=True)
    assert len(resolution_times(console.engine, period)) == 2
    from rag.analytics.resolution import curated_share

    assert curated_share(console.engine, period).curated == summary.curated

    removed = remove_demo_data(console.engine)
    assert (removed.gaps, removed.curated_answers, removed.review_dates) == (5, 1, 2)
    assert {d.id: d.review_by for d in document_freshness(console.engine, console.kb)} == defaults
    assert audit_entries(console.engine) == []
