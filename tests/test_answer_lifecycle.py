"""Every answer is logged from its start: in progress, then done, failed or interrupted; re-asks
are logged as re-asks; the stages of an answer's time add up to its total."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rag.analytics.unanswered import reask, unanswered_groups
from rag.answer import ABANDONED, INTERRUPTED, abandon, close_abandoned_answers, prepare, stream
from rag.answer.limits import check_limits, questions_last_minute
from rag.console import Console
from rag.errors import LimitReached
from rag.ingest.pipeline import ingest_file
from rag.providers.extractive import ExtractiveGenerator
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder, ScriptedGenerator
from tests.workers import running_workers, wait_until, worker_env

RETURNS = b"# Returns\n\nOpened headphones can be returned within 14 days of delivery."
QUESTION = "How long can opened headphones be returned?"
REPLY = "Opened headphones can be returned within 14 days [1]."
STAGES = ("embed_ms", "cache_ms", "retrieve_ms", "generate_ms", "log_ms")


@pytest.fixture
def scripted(make_console: ConsoleFactory) -> tuple[Console, ScriptedGenerator]:
    generator = ScriptedGenerator()
    console = make_console(embedder=HashEmbedder(dims=1024), generator=generator, MIN_RELEVANCE="0.2")
    assert ingest_file(console, "returns.md", RETURNS, user="km").ok
    return console, generator


def answer_rows(console: Console) -> list[Any]:
    with console.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM answers ORDER BY id")))


def chat_calls(console: Console, answer_id: int) -> list[Any]:
    with console.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT * FROM model_calls WHERE answer_id = :a AND purpose = 'chat'"),
                {"a": answer_id},
            )
        )


def test_a_question_is_logged_in_progress_before_its_answer(
    scripted: tuple[Console, ScriptedGenerator],
) -> None:
    console, generator = scripted
    generator.replies.append(REPLY)
    result = prepare(console, QUESTION, user="agent")
    [row] = answer_rows(console)
    assert (row.id, row.state, row.kind, row.answered, row.in_figures) == (
        result.answer_id,
        "in_progress",
        "question",
        False,
        False,
    )
    assert row.question == QUESTION and row.conversation_id == result.conversation_id
    assert questions_last_minute(console.engine, "agent") == 1  # the limits count it already

    assert "".join(stream(result)) == REPLY
    [row] = answer_rows(console)
    assert (row.state, row.answered, row.in_figures, row.answer) == ("done", True, True, REPLY)
    assert row.finished_at is not None and row.finished_at >= row.created_at


def test_an_abandoned_stream_is_logged_as_interrupted_with_its_tokens(
    scripted: tuple[Console, ScriptedGenerator],
) -> None:
    console, generator = scripted
    generator.replies.append(REPLY)
    result = prepare(console, QUESTION, user="agent")
    deltas = stream(result)
    partial = next(deltas) + next(deltas)
    deltas.close()  # the reader went away: a click, another page, a closed tab

    assert result.finished and result.state == "interrupted" and result.error == INTERRUPTED
    [row] = answer_rows(console)
    assert (row.state, row.answer, row.incomplete, row.answered) == ("interrupted", partial, True, False)
    assert (row.error_code, row.error, row.in_figures) == (None, INTERRUPTED, True)
    assert row.generate_ms is not None and row.total_ms is not None
    [call] = chat_calls(console, row.id)
    assert (call.tokens_in, call.ok, call.usage_estimated) == (100, True, False)  # what it had spent
    assert row.tokens_in == 100

    # Not an outage: it is a question left without an answer, so Unanswered lists it.
    today = datetime.now(UTC).date()
    groups = unanswered_groups(console.engine, start=today, end=today, demo=False, threshold=0.2)
    assert [g.examples for g in groups] == [[QUESTION]]


def test_an_answer_never_read_is_logged_as_interrupted(scripted: tuple[Console, ScriptedGenerator]) -> None:
    console, _ = scripted
    result = prepare(console, QUESTION, user="agent")
    abandon(result)
    abandon(result)  # a no-op once finished
    [row] = answer_rows(console)
    assert (row.state, row.answer, row.incomplete) == ("interrupted", "", False)
    assert chat_calls(console, row.id) == []  # no model was asked


def test_the_sweep_closes_answers_whose_process_died(scripted: tuple[Console, ScriptedGenerator]) -> None:
    console, _ = scripted
    prepare(console, QUESTION, user="agent")  # and the process dies: nobody finishes it
    assert close_abandoned_answers(console.engine, older_than_s=600) == 0  # may still be streaming
    with console.engine.begin() as conn:
        conn.execute(sa.text("UPDATE answers SET created_at = now() - interval '11 minutes'"))
    assert close_abandoned_answers(console.engine, older_than_s=600) == 1
    [row] = answer_rows(console)
    assert (row.state, row.error, row.in_figures) == ("interrupted", ABANDONED, True)
    assert close_abandoned_answers(console.engine, older_than_s=600) == 0


def test_a_failed_answer_is_logged_as_failed(scripted: tuple[Console, ScriptedGenerator]) -> None:
    console, generator = scripted
    generator.replies.append(REPLY)
    generator.cut_after_words = 2
    result = prepare(console, QUESTION, user="agent")
    assert "".join(stream(result)) == "Opened headphones"
    [row] = answer_rows(console)
    assert (row.state, row.error_code, row.incomplete, row.in_figures) == ("failed", "connection", True, True)


def test_reasks_are_logged_as_reasks_limited_and_kept_out_of_the_figures(
    make_console: ConsoleFactory,
) -> None:
    generator = ScriptedGenerator()
    console = make_console(
        embedder=HashEmbedder(dims=1024),
        generator=generator,
        MIN_RELEVANCE="0.2",
        MAX_QUESTIONS_PER_MINUTE="2",
    )
    assert ingest_file(console, "returns.md", RETURNS, user="km").ok
    generator.replies += [REPLY, REPLY]
    wordings = [QUESTION, "Can I return opened headphones?", "Return window for opened headphones?"]
    results = reask(console, wordings, user="manager@example.com")

    assert [r.question for r in results] == wordings
    assert [r.refused is None for r in results] == [True, True, False]
    assert results[2].refused is not None and "2 questions in the last minute" in results[2].refused
    rows = answer_rows(console)
    assert [(r.kind, r.state, r.in_figures, r.conversation_id) for r in rows] == [
        ("reask", "done", False, None)
    ] * 2
    assert {r.user_name for r in rows} == {"manager@example.com"}
    assert all(chat_calls(console, r.id) for r in rows)  # they cost, and the Cost page counts them
    with pytest.raises(LimitReached):
        check_limits(console.engine, console.settings, "manager@example.com")


def test_stage_times_add_up_to_the_total(make_console: ConsoleFactory) -> None:
    embedder = HashEmbedder(dims=1024)
    console = make_console(
        embedder=embedder, generator=ExtractiveGenerator(embedder=embedder), MIN_RELEVANCE="0.2"
    )
    assert ingest_file(console, "returns.md", RETURNS, user="km").ok
    for question in (QUESTION, QUESTION, "Which colour is the sky on Mars?"):  # answered, cached, unknown
        result = prepare(console, question, user="agent")
        "".join(stream(result))
    rows = answer_rows(console)
    assert [(r.cache_hit, r.answered) for r in rows] == [(False, True), (True, True), (False, False)]
    for row in rows:
        stages = sum(getattr(row, s) or 0.0 for s in STAGES)
        assert 0 < stages <= row.total_ms, row
        assert row.log_ms > 0 and row.first_token_ms is not None and row.first_token_ms <= row.total_ms
    answered, cached, _ = rows
    assert answered.generate_ms > 0 and answered.embed_ms > 0 and answered.retrieve_ms > 0
    assert answered.first_token_ms >= answered.embed_ms + answered.retrieve_ms + answered.cache_ms
    assert cached.cache_ms > 0 and cached.generate_ms is None and cached.retrieve_ms is None


def test_a_worker_process_closes_abandoned_answers(
    scripted: tuple[Console, ScriptedGenerator], database_url: str, tmp_path: Path
) -> None:
    console, _ = scripted
    prepare(console, QUESTION, user="agent")  # its process "dies": the row stays in progress
    # Its own knowledge base (the local model): the sweep closes every abandoned answer.
    env = worker_env(database_url, tmp_path / "data", ANSWER_ABANDONED_AFTER_S="1", KNOWLEDGE_BASE="worker")
    with running_workers(env, log_dir=tmp_path / "workers") as workers:
        workers.start()

        def closed() -> Any:
            workers.check_running()
            [row] = answer_rows(console)
            return row if row.state != "in_progress" else None

        row = wait_until(closed, what="the worker's sweep to close the answer", timeout=40)
    assert (row.state, row.error) == ("interrupted", ABANDONED)
