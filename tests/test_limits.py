"""Per-user limits: reached, they stop a question before any API call and say why, in plain words."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.answer.limits import tokens_last_day
from rag.answer.pipeline import prepare, stream
from rag.console import Console, open_console
from rag.errors import ConfigError, LimitReached, QuestionRejected
from rag.ingest.pipeline import ingest_file
from rag.settings import load_settings
from tests.fake_openai import FakeOpenAI, serve

fake = pytest.fixture(serve, name="fake")

POLICY = b"Opened headphones can be returned within 14 days of delivery, with the original box."
QUESTION = "How long can opened headphones be returned?"

OpenConsole = Callable[..., Console]


@pytest.fixture
def open_limited(fake: FakeOpenAI, database_url: str, tmp_path: Path) -> Iterator[OpenConsole]:
    consoles: list[Console] = []

    def build(**env: str) -> Console:
        values = {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": fake.base_url,
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "MIN_RELEVANCE": "0.1",
            **env,
        }
        console = open_console(load_settings(values, secrets_file=None))
        consoles.append(console)
        ingest_file(console, "returns.txt", POLICY, user="admin")
        return console

    yield build
    for console in consoles:
        console.engine.dispose()


def answer(console: Console, user: str) -> None:
    result = prepare(console, QUESTION, user=user)
    "".join(stream(result))
    assert result.answered


def execute(console: Console, sql: str) -> None:
    with console.engine.begin() as conn:
        conn.execute(sa.text(sql))


def test_questions_per_minute(open_limited: OpenConsole, fake: FakeOpenAI) -> None:
    console = open_limited(MAX_QUESTIONS_PER_MINUTE="2")
    answer(console, "ana")
    answer(console, "ana")
    sent = len(fake.requests)
    with pytest.raises(LimitReached, match="You have asked 2 questions in the last minute, the most allowed"):
        prepare(console, QUESTION, user="ana")
    assert len(fake.requests) == sent  # no embedding, no chat call
    answer(console, "ben")  # limits are per user
    execute(console, "UPDATE answers SET created_at = now() - interval '61 seconds' WHERE user_name = 'ana'")
    answer(console, "ana")  # a minute later, ana may ask again


def test_tokens_per_day(open_limited: OpenConsole, fake: FakeOpenAI) -> None:
    console = open_limited(MAX_TOKENS_PER_DAY="40")
    assert tokens_last_day(console.engine, "ana") == 0
    answer(console, "ana")
    used = tokens_last_day(console.engine, "ana")
    assert used >= 40  # one answer's prompt (system prompt, source, question) is well over 40 tokens
    sent = len(fake.requests)
    with pytest.raises(
        LimitReached, match=f"used {used:,} model tokens in the last 24 hours; the limit is 40"
    ):
        prepare(console, QUESTION, user="ana")
    assert len(fake.requests) == sent
    answer(console, "ben")
    execute(
        console, "UPDATE model_calls SET created_at = now() - interval '25 hours' WHERE user_name = 'ana'"
    )
    answer(console, "ana")


def test_uploads_and_demo_rows_do_not_count(open_limited: OpenConsole) -> None:
    console = open_limited(MAX_TOKENS_PER_DAY="40", MAX_QUESTIONS_PER_MINUTE="1")
    # admin's upload embedded well over 40 tokens; demo traffic under ana's name is not hers
    ingest_file(console, "more.txt", POLICY * 20 + b" warranty", user="ana")
    execute(
        console,
        "INSERT INTO model_calls (purpose, provider, model, tokens_in, tokens_out, duration_ms, ok, "
        "user_name, is_demo) VALUES ('chat', 'openai', 'gpt-4o', 5000, 500, 1, true, 'ana', true)",
    )
    execute(
        console,
        "INSERT INTO answers (knowledge_base_id, question, answer, answered, answer_mode, model, "
        "embedding_model, user_name, is_demo) SELECT id, 'q', 'a', true, 'openai', 'm', 'e', 'ana', true "
        "FROM knowledge_bases",
    )
    answer(console, "ana")


def test_a_limit_of_zero_is_no_limit(open_limited: OpenConsole) -> None:
    console = open_limited(MAX_QUESTIONS_PER_MINUTE="0", MAX_TOKENS_PER_DAY="0")
    for _ in range(3):
        answer(console, "ana")


def test_an_overlong_question_makes_no_call(open_limited: OpenConsole, fake: FakeOpenAI) -> None:
    console = open_limited(MAX_QUESTION_CHARS="50")
    sent = len(fake.requests)
    with pytest.raises(QuestionRejected, match="the limit is 50"):
        prepare(console, "why " * 20, user="ana")
    assert len(fake.requests) == sent


def test_defaults_and_validation() -> None:
    settings = load_settings({}, secrets_file=None)
    assert (settings.max_questions_per_minute, settings.max_tokens_per_day) == (10, 200_000)
    assert (settings.max_question_chars, settings.db_statement_timeout_s) == (2000, 60.0)
    with pytest.raises(ConfigError, match="cannot be negative"):
        load_settings({"MAX_TOKENS_PER_DAY": "-1"}, secrets_file=None)
