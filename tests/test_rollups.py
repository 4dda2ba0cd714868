"""Rollups of closed days read exactly like the live queries, stay correct when old rows change,
and mix with today's live rows; a worker computes them ahead of the pages."""

# ruff: noqa: F811  (tests take the imported `log` fixture by name)
from __future__ import annotations

import threading
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Answer, AnswerSource, Feedback, ModelCall
from rag import analytics as a
from rag.analytics import rollups
from rag.analytics.people import questions_by_person
from rag.analytics.period import Period
from rag.demo import generate_demo_data, remove_demo_data
from tests.conftest import ConsoleFactory
from tests.test_analytics import (  # noqa: F401
    ANSWER_DEFAULTS,
    D10,
    D12,
    DEMO,
    PERIOD,
    Log,
    add_answer,
    at,
    call,
    log,
    records,
)
from tests.workers import running_workers, wait_until, worker_env

TODAY = datetime.now(UTC).date()


def everything(engine: Engine, period: Period, kb_id: int) -> dict[str, Any]:
    """Every analytics function's result over `period`, as plain values."""
    frames = {
        "questions_by_day": a.questions_by_day(engine, period),
        "most_cited_documents": a.most_cited_documents(engine, period),
        "never_cited_documents": a.never_cited_documents(engine, kb_id, period),
        "cost_by_day": a.cost_by_day(engine, period),
        "cost_per_answer_by_day": a.cost_per_answer_by_day(engine, period),
        "latency_by_day": a.latency_by_day(engine, period),
        "latency_histogram": a.latency_histogram(engine, period, bins=7),
        "slowest_answers": a.slowest_answers(engine, period, limit=4),
        "errors_by_day": a.errors_by_day(engine, period),
        "stage_time_by_day": a.stage_time_by_day(engine, period),
        "cost_per_document": a.cost_per_document(engine, period),
        "questions_by_person": questions_by_person(engine, period),
    }
    stages = a.stage_time(engine, period)
    return {name: (list(f.columns), records(f)) for name, f in frames.items()} | {
        "overview": asdict(a.overview(engine, period)),
        "cost_totals": asdict(a.cost_totals(engine, period)),
        "stage_time": stages and asdict(stages),
        "total_percentiles": a.total_percentiles(engine, period),
    }


def live(engine: Engine, period: Period, kb_id: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The same, read from the raw tables only: every day counts as open."""
    with monkeypatch.context() as m:
        m.setattr(rollups, "today", lambda: date(2000, 1, 1))
        return everything(engine, period, kb_id)


def rolled_up_days(engine: Engine) -> list[tuple[date, bool]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT day, is_demo FROM rollup_days ORDER BY 1, 2"))]


@pytest.mark.parametrize("period", [PERIOD, DEMO, Period(date(2026, 3, 1), date(2026, 3, 31))])
def test_rollups_read_exactly_like_the_live_queries(
    log: Log, period: Period, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = live(log.engine, period, log.kb_id, monkeypatch)
    assert rolled_up_days(log.engine) == []
    assert everything(log.engine, period, log.kb_id) == expected  # computes the rollups
    assert (period.end, period.demo) in rolled_up_days(log.engine)
    assert everything(log.engine, period, log.kb_id) == expected  # reads them


def test_a_period_with_today_mixes_rollups_and_live_rows(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    yesterday = TODAY - timedelta(days=1)
    noon = datetime.combine(yesterday, time(12), UTC)
    with log.engine.begin() as conn:
        conv = conn.execute(sa.text("SELECT conversation_id FROM answers LIMIT 1")).scalar_one()
        ids = [
            conn.execute(
                sa.insert(Answer)
                .values(**ANSWER_DEFAULTS, knowledge_base_id=log.kb_id, question=f"q{i}", answered=i != 1,
                        conversation_id=conv, total_ms=100.0 * (i + 1), created_at=created)
                .returning(Answer.id)
            ).scalar_one()
            for i, created in enumerate([noon, noon, datetime.now(UTC)])
        ]  # fmt: skip
        conn.execute(
            sa.insert(AnswerSource),
            [{"answer_id": i, "number": 1, "document_id": log.docs["warranty"], "document_title": "Warranty",
              "location": "p. 1", "snippet": "...", "score": 0.5, "cited": True} for i in ids],
        )  # fmt: skip
        conn.execute(sa.insert(Feedback).values(answer_id=ids[2], user_name="ana", rating=1))
        conn.execute(
            sa.insert(ModelCall).values(purpose="chat", provider="openai", model="gpt-4o", cost_usd=0.5,
                                        duration_ms=1.0, ok=True, user_name="ana")
        )  # fmt: skip
    week = Period.last_days(7)
    expected = live(log.engine, week, log.kb_id, monkeypatch)
    assert everything(log.engine, week, log.kb_id) == expected
    assert (TODAY, False) not in rolled_up_days(log.engine)
    assert (yesterday, False) in rolled_up_days(log.engine)
    totals = a.cost_totals(log.engine, week)
    assert (totals.answers, totals.conversations, totals.cost_usd) == (
        3,
        1,
        0.5,
    )  # one conversation, two days
    assert a.overview(log.engine, week).questions == 3


def test_the_stage_breakdown_of_rolled_up_days_adds_up(log: Log) -> None:
    a.stage_time_by_day(log.engine, PERIOD)
    with log.engine.connect() as conn:
        rolled = conn.execute(sa.text("SELECT * FROM rollup_stage_time WHERE NOT is_demo ORDER BY day")).all()
    # The sums, as stored: 10 March's four answers with a total, 12 March's one.
    assert [(r.day, r.answers, r.embed_ms, r.cache_ms, r.log_ms, r.total_ms) for r in rolled] == [
        (date(2026, 3, 10), 4, 100, 14, 14, 1000),
        (date(2026, 3, 12), 1, 5, 1, 4, 1000),
    ]
    for row in records(a.stage_time_by_day(log.engine, PERIOD)):
        assert sum(row[part] for part in a.PARTS) == pytest.approx(row["total_ms"])


def test_a_question_finished_after_its_day_closed_recomputes_the_day(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    with log.engine.begin() as conn:  # taken on 10 March, still running when the day was rolled up
        taken = add_answer(conn, log, "slow one", at(10, 23, 59), state="in_progress", total_ms=None)
        reask = add_answer(conn, log, "again", at(10, 12), kind="reask", cost="0.250", cited="security")
        conn.execute(sa.insert(ModelCall), [call(at(10, 12), "0.250", answer_id=reask)])
    assert a.overview(log.engine, PERIOD).questions == 6
    assert a.cost_totals(log.engine, PERIOD).cost_usd == pytest.approx(0.377)  # the re-ask's call counts
    assert (date(2026, 3, 10), False) in rolled_up_days(log.engine)
    with log.engine.begin() as conn:
        conn.execute(
            sa.update(Answer)
            .where(Answer.id == taken)
            .values(state="done", answered=True, total_ms=20_000, embed_ms=10, generate_ms=19_000)
        )
    assert (date(2026, 3, 10), False) not in rolled_up_days(log.engine)  # forgotten by the trigger
    assert a.overview(log.engine, PERIOD).questions == 7
    assert a.stage_time_by_day(log.engine, PERIOD)["answers"].tolist() == [5, 1]
    assert everything(log.engine, PERIOD, log.kb_id) == live(log.engine, PERIOD, log.kb_id, monkeypatch)


def test_feedback_on_an_older_answer_recomputes_its_day(log: Log) -> None:
    assert a.overview(log.engine, PERIOD).thumbs_up_rate == 0.75
    with log.engine.begin() as conn:
        a5 = conn.execute(sa.text("SELECT id FROM answers WHERE question = 'question a5'")).scalar_one()
        conn.execute(sa.insert(Feedback).values(answer_id=a5, user_name="bo", rating=-1))
    assert (date(2026, 3, 12), False) not in rolled_up_days(log.engine)
    assert a.overview(log.engine, PERIOD).thumbs_up_rate == 0.6  # 3 up of 5


def test_demo_data_forgets_the_demo_rollups(
    make_console: ConsoleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = make_console()
    period = Period.last_days(5, demo=True)
    generate_demo_data(console, days=4, answers=300, seed=1)
    assert a.overview(console.engine, period).questions == 300
    assert rolled_up_days(console.engine)
    generate_demo_data(console, days=4, answers=200, seed=2)
    assert rolled_up_days(console.engine) == []
    assert everything(console.engine, period, console.kb.id) == live(
        console.engine, period, console.kb.id, monkeypatch
    )
    assert a.overview(console.engine, period).questions == 500
    remove_demo_data(console.engine)
    assert a.overview(console.engine, period).questions == 0


def test_concurrent_views_compute_each_day_once(log: Log) -> None:
    period = Period(date(2026, 3, 1), date(2026, 3, 31))
    computed: list[list[date]] = []
    start = threading.Barrier(4)

    def view() -> None:
        start.wait()
        computed.append(rollups.ensure_rollups(log.engine, period))

    threads = [threading.Thread(target=view) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(day for days in computed for day in days) == [
        period.start + timedelta(days=i) for i in range(31)
    ]
    assert len(rolled_up_days(log.engine)) == 31


def test_invalidate_forgets_chosen_days(log: Log) -> None:
    a.overview(log.engine, PERIOD)
    a.overview(log.engine, DEMO)
    rollups.invalidate_rollups(log.engine, demo=False, days=[date(2026, 3, 10)])
    assert (date(2026, 3, 10), False) not in rolled_up_days(log.engine)
    assert (date(2026, 3, 10), True) in rolled_up_days(log.engine)
    rollups.invalidate_rollups(log.engine)
    assert rolled_up_days(log.engine) == []


def every_closed_day(engine: Engine) -> set[tuple[date, bool]]:
    """Each day from the first row of a kind to yesterday, for both kinds."""
    days = set()
    for demo in (False, True):
        first = rollups.first_day(engine, demo=demo)
        assert first is not None
        days |= {(first + timedelta(days=n), demo) for n in range((TODAY - first).days)}
    return days


def test_the_worker_job_rolls_up_every_closed_day_since_the_first_row(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = live(log.engine, PERIOD, log.kb_id, monkeypatch)
    caught_up = rollups.roll_up_closed_days(log.engine)
    assert {(day, False) for day in caught_up.real} | {
        (day, True) for day in caught_up.demo
    } == every_closed_day(log.engine)
    assert caught_up.real[-1] == TODAY - timedelta(days=1)  # newest first, each batch its own transaction
    assert set(rolled_up_days(log.engine)) == every_closed_day(log.engine)
    assert rollups.ensure_rollups(log.engine, PERIOD) == []  # the page has nothing left to compute
    assert everything(log.engine, PERIOD, log.kb_id) == expected


def test_the_worker_job_does_nothing_when_no_day_is_missing(log: Log) -> None:
    rollups.roll_up_closed_days(log.engine, batch_days=400)
    with log.engine.connect() as conn:
        computed = conn.execute(
            sa.text("SELECT day, is_demo, computed_at FROM rollup_days ORDER BY 1, 2")
        ).all()
    assert rollups.roll_up_closed_days(log.engine) == rollups.CaughtUp()
    assert str(rollups.roll_up_closed_days(log.engine)) == "rolled up 0 real and 0 demo day(s)"
    with log.engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT day, is_demo, computed_at FROM rollup_days ORDER BY 1, 2")
        ).all() == (computed)
    with pytest.raises(ValueError, match="batch_days must be at least 1"):
        rollups.roll_up_closed_days(log.engine, batch_days=0)


def test_only_one_worker_catches_up_at_a_time(log: Log) -> None:
    with log.engine.begin() as other:  # another worker (or a page) computing: it holds both locks
        for demo in (0, 1):
            other.execute(
                sa.text("SELECT pg_advisory_xact_lock(:lock, :demo)"), {"lock": rollups.LOCK, "demo": demo}
            )
        assert rollups.roll_up_closed_days(log.engine) == rollups.CaughtUp(skipped=True)
    assert rolled_up_days(log.engine) == []
    assert rollups.roll_up_closed_days(log.engine).real  # the lock went with its transaction


def test_a_page_computes_a_day_forgotten_since_the_worker_ran(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollups.roll_up_closed_days(log.engine, batch_days=400)
    with log.engine.begin() as conn:  # late feedback: the trigger forgets 12 March
        a5 = conn.execute(sa.text("SELECT id FROM answers WHERE question = 'question a5'")).scalar_one()
        conn.execute(sa.insert(Feedback).values(answer_id=a5, user_name="bo", rating=-1))
    assert rollups.ensure_rollups(log.engine, PERIOD) == [D12]
    assert a.overview(log.engine, PERIOD).thumbs_up_rate == 0.6
    assert everything(log.engine, PERIOD, log.kb_id) == live(log.engine, PERIOD, log.kb_id, monkeypatch)


def test_ingestion_calls_given_their_document_later_forget_their_day(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingestion = {
        "purpose": "ingest_embedding",
        "model": "text-embedding-3-small",
        "tokens_in": 700,
        "tokens_out": 0,
    }
    with log.engine.begin() as conn:  # paid for before midnight, stored after it
        paid = conn.execute(
            sa.insert(ModelCall)
            .values(call(at(10, 23, 50), "0.001", answer_id=None) | ingestion)
            .returning(ModelCall.id)
        ).scalar_one()
    a.cost_per_document(log.engine, PERIOD)
    assert (D10, False) in rolled_up_days(log.engine)
    with log.engine.begin() as conn:
        conn.execute(
            sa.update(ModelCall).where(ModelCall.id == paid).values(document_id=log.docs["warranty"])
        )
    assert (D10, False) not in rolled_up_days(log.engine)
    warranty = next(
        r for r in records(a.cost_per_document(log.engine, PERIOD)) if r["document"] == "Warranty"
    )
    assert (warranty["ingest_calls"], warranty["ingest_tokens"]) == (1, 700)
    assert everything(log.engine, PERIOD, log.kb_id) == live(log.engine, PERIOD, log.kb_id, monkeypatch)


def test_a_document_deleted_after_its_days_were_rolled_up_reads_as_live(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollups.roll_up_closed_days(log.engine, batch_days=400)
    with log.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM documents WHERE id = :id"), {"id": log.docs["refund"]})
    assert (D10, False) in rolled_up_days(log.engine)  # nothing to forget: reads map it to "deleted"
    documents = records(a.cost_per_document(log.engine, PERIOD))
    # Its answers keep the titles they cited it under; its ingestion becomes "no document".
    assert {r["document"] for r in documents if r["document_id"] is None} >= {"Refund policy", None}
    assert everything(log.engine, PERIOD, log.kb_id) == live(log.engine, PERIOD, log.kb_id, monkeypatch)


def test_a_worker_process_rolls_up_the_closed_days(log: Log, database_url: str, tmp_path: Path) -> None:
    # Its own knowledge base (the local model). A worker defers the job's latest tick (under a
    # minute ago) as it starts, so it runs at once.
    env = worker_env(database_url, tmp_path / "data", KNOWLEDGE_BASE="worker")
    expected = every_closed_day(log.engine)
    with running_workers(env, log_dir=tmp_path / "workers") as workers:
        workers.start()

        def done() -> bool:
            workers.check_running()
            return set(rolled_up_days(log.engine)) == expected

        wait_until(done, what="the worker to roll up every closed day", timeout=40)
    assert rollups.ensure_rollups(log.engine, Period(min(expected)[0], TODAY)) == []
