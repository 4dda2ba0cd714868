"""Demo traffic on a real database: labelled, realistic in shape, priced from the table, removable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.answer.not_known import NOT_KNOWN
from rag.answer.pipeline import prepare, stream
from rag.console import Console
from rag.demo import AGENTS, TEMPLATES, generate_demo_data, remove_demo_data
from rag.ingest.pipeline import ingest_file
from rag.usage.pricing import cost_usd
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder
from tests.test_cli import run_cli

RETURNS = b"# Returns\n\nOpened headphones can be returned within 14 days. Refunds reach the card in five business days."
CENT = Decimal("0.00000001")  # answers.cost_usd is NUMERIC(14, 8)


def real_answer(console: Console) -> int:
    assert ingest_file(console, "returns.md", RETURNS, user="km").ok
    result = prepare(console, "How long can opened headphones be returned?", user="agent")
    "".join(stream(result))
    return result.answer_id


def scalar(console: Console, sql: str, **params: object) -> object:
    with console.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def test_demo_traffic_is_labelled_realistic_and_removable(make_console: ConsoleFactory) -> None:
    console = make_console()
    real_id = real_answer(console)
    real_calls = scalar(console, "SELECT count(*) FROM model_calls")
    now = datetime.now(UTC)
    summary = generate_demo_data(console, days=10, answers=500, seed=7, now=now)
    assert (summary.answers, summary.already_there, summary.seed) == (500, 0, 7)

    with console.engine.connect() as conn:
        demo = conn.execute(sa.text("SELECT * FROM answers WHERE is_demo")).all()
        assert len(demo) == 500 and scalar(console, "SELECT count(*) FROM answers WHERE NOT is_demo") == 1
        assert all(now - timedelta(days=10) <= a.created_at <= now for a in demo)
        assert {a.user_name for a in demo} <= set(AGENTS)
        answered = sum(a.answered for a in demo) / 500
        errors = [a for a in demo if a.error_code]
        not_known = [a for a in demo if not a.answered and not a.error_code]
        assert 0.72 <= answered <= 0.92
        assert 0.05 <= len(not_known) / 500 <= 0.2 and all(a.answer == NOT_KNOWN for a in not_known)
        assert errors and {a.error_code for a in errors} <= {"timeout", "rate_limited", "server_error"}
        # A failed call's wait is its generation time; the first text never came.
        assert all(not a.answered and a.generate_ms > 0 and a.first_token_ms is None for a in errors)
        assert {(a.state, a.kind, a.in_figures) for a in demo} == {
            ("done", "question", True),
            ("failed", "question", True),
        }
        assert all((a.state == "failed") == bool(a.error_code) for a in demo)
        assert {a.model for a in demo} == {"gpt-4o", "gpt-4o-mini", "extractive"}
        # The stages and a small remainder make up the total; the first text comes within it.
        for a in demo:
            stages = a.embed_ms + a.cache_ms + a.retrieve_ms + (a.generate_ms or 0) + a.log_ms
            assert 0 < a.total_ms - stages < 1000 and a.cache_ms > 0 and a.log_ms > 0
            assert a.first_token_ms is None or a.embed_ms + a.retrieve_ms < a.first_token_ms < a.total_ms
            assert a.finished_at - a.created_at == pytest.approx(
                timedelta(milliseconds=a.total_ms), abs=timedelta(milliseconds=2)
            )
        # One vector per question variant, so that unanswered questions group.
        assert all(a.question_embedding is not None for a in demo)
        vectors = conn.execute(
            sa.text(
                "SELECT count(DISTINCT question_embedding::text) FROM answers WHERE is_demo GROUP BY question"
            )
        ).scalars()
        assert set(vectors) == {1}

        conversations = conn.execute(
            sa.text(
                "SELECT c.user_name, c.title, count(a.id) AS n FROM conversations c "
                "JOIN answers a ON a.conversation_id = c.id WHERE a.is_demo GROUP BY c.id"
            )
        ).all()
        assert all(c.user_name.startswith("demo:") and c.title.startswith("[demo] ") for c in conversations)
        assert {c.n for c in conversations} <= {1, 2, 3, 4} and len(conversations) < 500

        sources = conn.execute(
            sa.text(
                "SELECT answer_id, count(*) AS n, bool_and(document_id IS NOT NULL) AS real, "
                "count(*) FILTER (WHERE cited) AS cited FROM answer_sources "
                "WHERE answer_id IN (SELECT id FROM answers WHERE is_demo) GROUP BY answer_id"
            )
        ).all()
        assert len(sources) == 500 and all(1 <= s.n <= 5 and s.real for s in sources)
        answered_ids = {a.id for a in demo if a.answered}
        assert all((s.cited > 0) == (s.answer_id in answered_ids) for s in sources)

        feedback = conn.execute(
            sa.text(
                "SELECT f.rating, f.reason, a.is_demo FROM feedback f JOIN answers a ON a.id = f.answer_id"
            )
        ).all()
        assert 0.15 <= len(feedback) / 500 <= 0.35 and all(f.is_demo for f in feedback)
        assert sum(f.rating == 1 for f in feedback) > len(feedback) / 2
        assert {f.reason for f in feedback if f.rating == -1} <= {
            "wrong",
            "outdated",
            "missing",
            "bad_citation",
        }

        calls = conn.execute(sa.text("SELECT * FROM model_calls WHERE is_demo")).all()
        assert len(calls) == summary.model_calls
        assert {c.purpose for c in calls} == {"query_embedding", "chat", "ingest_embedding"}
        assert all(c.user_name.startswith("demo:") for c in calls)

    prices = console.settings.prices
    sample = next(a for a in demo if a.answered and a.model == "gpt-4o")
    own = [c for c in calls if c.answer_id == sample.id]
    assert sorted(c.purpose for c in own) == ["chat", "query_embedding"]
    for c in own:
        assert c.cost_usd == cost_usd(prices, c.model, c.tokens_in, c.tokens_out).quantize(CENT)  # type: ignore[union-attr]
    chat = next(c for c in own if c.purpose == "chat")
    assert (chat.tokens_in, chat.tokens_out) == (sample.tokens_in, sample.tokens_out) and chat.tokens_in > 500
    assert sample.cost_usd == sum(c.cost_usd for c in own) > 0

    again = generate_demo_data(console, days=10, answers=50, seed=8)
    assert again.already_there == 500

    removed = remove_demo_data(console.engine)
    assert removed.answers == 550 and removed.model_calls == summary.model_calls + again.model_calls
    assert removed.conversations == summary.conversations + again.conversations
    assert removed.feedback == summary.feedback + again.feedback
    for sql in (
        "SELECT count(*) FROM answers WHERE is_demo",
        "SELECT count(*) FROM model_calls WHERE is_demo",
        "SELECT count(*) FROM conversations WHERE user_name LIKE 'demo:%'",
        "SELECT count(*) FROM feedback",
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'model_calls' AND indexname LIKE 'demo%'",
    ):
        assert scalar(console, sql) == 0, sql
    assert scalar(console, "SELECT id FROM answers") == real_id
    assert scalar(console, "SELECT count(*) FROM model_calls") == real_calls
    assert scalar(console, "SELECT count(*) FROM answer_sources WHERE answer_id = :a", a=real_id) > 0
    assert scalar(console, "SELECT count(*) FROM conversations") == 1


def test_without_documents_sources_are_fabricated_and_a_failed_embedding_leaves_null(
    make_console: ConsoleFactory,
) -> None:
    console = make_console(embedder=HashEmbedder(fail_on_call=1))
    generate_demo_data(console, days=3, answers=200, seed=1)
    with console.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(question_embedding) FROM answers")).scalar_one() == 0
        titles = conn.execute(
            sa.text("SELECT DISTINCT document_title FROM answer_sources WHERE document_id IS NULL")
        ).scalars()
        assert set(titles) <= {t.document for t in TEMPLATES}
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM answer_sources WHERE document_id IS NOT NULL")
            ).scalar_one()
            == 0
        )


def test_seeded_runs_repeat(make_console: ConsoleFactory) -> None:
    console = make_console()
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)

    def run() -> list[tuple[object, ...]]:
        generate_demo_data(console, days=7, answers=120, seed=42, now=now)
        with console.engine.begin() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT question, answer, model, cost_usd, created_at FROM answers ORDER BY created_at, id"
                )
            ).all()
        remove_demo_data(console.engine)
        return [tuple(r) for r in rows]

    assert run() == run()


@pytest.mark.parametrize("days, answers", [(0, 10), (5, 0)])
def test_rejects_empty_requests(make_console: ConsoleFactory, days: int, answers: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_demo_data(make_console(), days=days, answers=answers)


def test_cli_adds_and_removes_demo_data(database_url: str, tmp_path: Path) -> None:
    added = run_cli(
        database_url, tmp_path / "data", "demo-data", "--days", "5", "--answers", "300", "--seed", "3"
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added 300 demo answers in ") and "(seed 3)" in added.stdout
    assert "--remove" in added.stdout
    removed = run_cli(database_url, tmp_path / "data", "demo-data", "--remove")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("removed 300 demo answers (")
