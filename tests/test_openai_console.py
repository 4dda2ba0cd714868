"""The console in OpenAI mode end to end: real providers from settings, the official SDK against
the local fake server, and a real PostgreSQL. Nothing is mocked."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.models import (
    Answer,
    AnswerSource,
    Chunk,
    Conversation,
    Document,
    IngestionEvent,
    KnowledgeBase,
    ModelCall,
)
from rag.answer import conversation_exchanges, pipeline
from rag.answer.not_known import NOT_KNOWN
from rag.answer.pipeline import prepare, stream
from rag.console import Console, open_console
from rag.errors import EmbeddingModelMismatch
from rag.ingest.pipeline import IngestResult, ingest_file
from rag.providers.openai_chat import PROMPTS_DIR, OpenAIChatGenerator, render_source
from rag.providers.openai_embedder import OpenAIEmbedder
from rag.settings import load_settings
from rag.text.tokens import count_tokens
from tests.fake_openai import FakeOpenAI, serve

fake = pytest.fixture(serve, name="fake")

BATCH = 4
MILLION = Decimal(1_000_000)
EMBEDDING_PRICE = Decimal("0.02")  # text-embedding-3-small, per 1M tokens
CHAT_IN, CHAT_OUT = Decimal("2.50"), Decimal("10.00")  # gpt-4o, per 1M tokens

QUESTION = "How long can opened headphones be returned?"
REPLY = "Opened headphones can be returned within 14 days [1]."
TOPICS = [
    "shipping", "warranty", "invoices", "loyalty points", "gift cards", "store hours",
    "repairs", "trade-ins", "student discounts", "price matching", "delivery slots", "recycling",
]  # fmt: skip
POLICY = "\n\n".join(
    ["Opened headphones can be returned within 14 days of delivery. The original box and all accessories "
     "must be included."]
    + [f"Our {t} policy is described in this section. Customers asking about {t} should contact the "
       f"service desk. Staff will explain every {t} rule in detail and answer further questions."
       for t in TOPICS]
)  # fmt: skip

OpenConsole = Callable[..., Console]


@pytest.fixture
def open_openai(fake: FakeOpenAI, database_url: str, tmp_path: Path) -> Iterator[OpenConsole]:
    """Open consoles the way the app does (open_console), in OpenAI mode against the fake server."""
    consoles: list[Console] = []

    def build(**env: str) -> Console:
        values = {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": fake.base_url,
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "EMBEDDING_BATCH_SIZE": str(BATCH),
            "MIN_RELEVANCE": "0.1",
            "CHUNK_TOKENS": "40",
            "CHUNK_OVERLAP": "0",
            "OPENAI_TIMEOUT": "5",
            "OPENAI_MAX_RETRIES": "1",
            **env,
        }
        console = open_console(load_settings(values, secrets_file=None))
        consoles.append(console)
        return console

    yield build
    for console in consoles:
        console.engine.dispose()


@pytest.fixture
def console(open_openai: OpenConsole) -> Console:
    return open_openai()


def words(text: str) -> int:
    """Tokens as the fake server counts them."""
    return len(re.findall(r"\w+", text.lower()))


def rows(console: Console, query: Any) -> list[Any]:
    with console.engine.connect() as conn:
        return list(conn.execute(query).all())


def count(console: Console, table: type) -> int:
    with console.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def sent(fake: FakeOpenAI, path: str) -> list[dict[str, Any]]:
    return [body for body, p in zip(fake.requests, fake.paths, strict=True) if p == f"/v1/{path}"]


def ingest_policy(console: Console, **kwargs: Any) -> IngestResult:
    return ingest_file(console, "Returns policy.txt", POLICY.encode(), user="admin", **kwargs)


def ask_all(console: Console, question: str, **kwargs: Any) -> tuple[str, pipeline.Answer]:
    result = prepare(console, question, user="u", **kwargs)
    text = "".join(stream(result))
    return text, result


def answer_row(console: Console, answer_id: int) -> Answer:
    with Session(console.engine) as session:
        return session.get_one(Answer, answer_id)


def calls_of(console: Console, **where: Any) -> list[ModelCall]:
    with Session(console.engine) as session:
        return list(session.scalars(sa.select(ModelCall).filter_by(**where).order_by(ModelCall.id)))


# 1. Settings


def test_an_api_key_alone_switches_to_openai() -> None:
    settings = load_settings({"OPENAI_API_KEY": "sk-test"}, secrets_file=None)
    assert (settings.embedding_provider, settings.answer_mode) == ("openai", "openai")
    assert (settings.embedding_model, settings.chat_model) == ("text-embedding-3-small", "gpt-4o")
    assert (settings.chunk_tokens, settings.chunk_overlap) == (600, 100)
    assert settings.openai_base_url is None and settings.chat_temperature == 0.3
    assert "sk-test" not in repr(settings)


def test_open_console_wires_the_openai_providers(console: Console) -> None:
    assert isinstance(console.embedder, OpenAIEmbedder) and console.embedder.model == "text-embedding-3-small"
    assert isinstance(console.generator, OpenAIChatGenerator) and console.generator.model == "gpt-4o"
    assert (console.kb.embedding_model, console.kb.dimensions) == ("text-embedding-3-small", 1536)
    kb = rows(console, sa.select(KnowledgeBase.embedding_provider, KnowledgeBase.embedding_dimensions))
    assert kb == [("openai", 1536)]


# 2. Ingestion in batches


def test_ingestion_embeds_in_batches_and_logs_each_call(console: Console, fake: FakeOpenAI) -> None:
    stages: list[str] = []
    result = ingest_policy(console, progress=lambda _f, stage: stages.append(stage))
    assert result.outcome == "ingested", result.message
    assert result.chunk_count > 8

    requests = sent(fake, "embeddings")
    assert len(requests) == math.ceil(result.chunk_count / BATCH)
    assert all(1 <= len(r["input"]) <= BATCH and r["model"] == "text-embedding-3-small" for r in requests)
    done = [int(s.split()[1]) for s in stages if s.startswith("embedded ")]
    assert done == sorted(done) and done[-1] == result.chunk_count and len(done) == len(requests)

    stored = rows(
        console, sa.select(Chunk.text, sa.func.vector_dims(Chunk.embedding)).order_by(Chunk.position)
    )
    # Requests run concurrently, so they arrive in any order; each is one run of consecutive chunks.
    texts = [text for text, _ in stored]
    slices = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    assert sorted(r["input"] for r in requests) == sorted(slices)
    assert {dims for _, dims in stored} == {1536}
    assert rows(console, sa.select(Document.chunk_count)) == [(result.chunk_count,)]

    calls = calls_of(console, purpose="ingest_embedding")
    assert len(calls) == len(requests)
    # Calls are logged as they finish: match each to its request by tokens.
    by_tokens = sorted(calls, key=lambda c: c.tokens_in)
    request_tokens = sorted(sum(words(t) for t in r["input"]) for r in requests)
    for call, tokens in zip(by_tokens, request_tokens, strict=True):
        assert (call.provider, call.model, call.ok, call.error_code) == (
            "openai", "text-embedding-3-small", True, None
        )  # fmt: skip
        assert call.tokens_in == tokens and call.tokens_out == 0
        assert call.cost_usd == EMBEDDING_PRICE * tokens / MILLION
        assert call.document_id == result.document_id and call.answer_id is None
        assert call.user_name == "admin" and call.duration_ms >= 0

    events = rows(
        console, sa.select(IngestionEvent.outcome, IngestionEvent.chunk_count, IngestionEvent.reason)
    )
    assert events == [("ingested", result.chunk_count, None)]


# 3. Asking


def test_ask_streams_the_answer_and_logs_everything(console: Console, fake: FakeOpenAI) -> None:
    ingest_policy(console)
    fake.queue_reply(REPLY)
    before = len(fake.requests)

    result = prepare(console, QUESTION, user="u")
    deltas = list(stream(result))
    assert len(deltas) > 1 and "".join(deltas) == REPLY
    assert (result.answer, result.answered, result.incomplete, result.error) == (REPLY, True, False, None)
    assert result.cited == {1}
    assert result.passages[0].text.startswith("Opened headphones can be returned within 14 days")

    query_request, chat = fake.requests[before:]
    assert query_request == {
        "model": "text-embedding-3-small",
        "input": [QUESTION],
        "encoding_format": "base64",
    }
    assert (chat["model"], chat["temperature"], chat["max_tokens"], chat["stream"]) == (
        "gpt-4o", 0.3, console.settings.chat_max_tokens, True
    )  # fmt: skip
    assert chat["stream_options"] == {"include_usage": True}
    system_prompt = (PROMPTS_DIR / "answer_system.txt").read_text(encoding="utf-8").strip()
    assert chat["messages"][0] == {"role": "system", "content": system_prompt}
    assert [m["role"] for m in chat["messages"]] == ["system", "user"]
    last = chat["messages"][-1]["content"]
    assert '<source id="1" ' in last and render_source(result.passages[0]) in last
    relevant = [p for p in result.passages if p.score >= console.settings.min_relevance]
    assert last.count("<source id=") == len(relevant) and last.rstrip().endswith(QUESTION)

    answer = answer_row(console, result.answer_id)
    tokens_in = sum(words(m["content"]) for m in chat["messages"])
    tokens_out = words(REPLY)
    assert (answer.answered, answer.incomplete, answer.error_code, answer.error) == (True, False, None, None)
    assert (answer.answer_mode, answer.model, answer.embedding_model) == (
        "openai", "gpt-4o", "text-embedding-3-small"
    )  # fmt: skip
    assert (answer.tokens_in, answer.tokens_out) == (tokens_in, tokens_out)
    embedding_cost = EMBEDDING_PRICE * words(QUESTION) / MILLION
    chat_cost = (CHAT_IN * tokens_in + CHAT_OUT * tokens_out) / MILLION
    assert answer.cost_usd == embedding_cost + chat_cost
    assert answer.best_score == pytest.approx(result.passages[0].score)
    assert answer.conversation_id == result.conversation_id and answer.user_name == "u"
    timings = [
        answer.embed_ms,
        answer.retrieve_ms,
        answer.first_token_ms,
        answer.generate_ms,
        answer.total_ms,
    ]
    assert None not in timings
    assert min(timings) >= 0
    # Time to first text runs from the question taken, so it includes the search before it.
    assert answer.embed_ms + answer.retrieve_ms <= answer.first_token_ms <= answer.total_ms
    assert answer.embed_ms + answer.retrieve_ms + answer.generate_ms + answer.log_ms <= answer.total_ms
    assert rows(console, sa.select(Conversation.title)) == [(QUESTION,)]

    sources = rows(
        console,
        sa.select(AnswerSource.number, AnswerSource.cited, AnswerSource.chunk_id)
        .where(AnswerSource.answer_id == result.answer_id)
        .order_by(AnswerSource.number),
    )
    assert sources == [(p.number, p.number == 1, p.chunk_id) for p in result.passages]

    calls = calls_of(console, answer_id=result.answer_id)
    assert [(c.purpose, c.model, c.ok) for c in calls] == [
        ("query_embedding", "text-embedding-3-small", True), ("chat", "gpt-4o", True)
    ]  # fmt: skip
    assert (calls[0].tokens_in, calls[0].cost_usd) == (words(QUESTION), embedding_cost)
    assert (calls[1].tokens_in, calls[1].tokens_out, calls[1].cost_usd) == (tokens_in, tokens_out, chat_cost)
    assert all(c.document_id is None and c.user_name == "u" for c in calls)


# 4. and 5. What the model said


def test_a_citation_of_a_source_not_retrieved_is_removed(console: Console, fake: FakeOpenAI) -> None:
    ingest_policy(console)
    fake.queue_reply("Opened headphones can be returned within 14 days [1][7].")
    _, result = ask_all(console, QUESTION)
    assert len(result.passages) < 7
    assert result.answer == "Opened headphones can be returned within 14 days [1]."
    assert result.answered and result.cited == {1} and result.error is None
    answer = answer_row(console, result.answer_id)
    assert answer.answer == result.answer and answer.answered is True and answer.error_code is None
    assert answer.error == "removed citations of sources that were not retrieved: [7]"


def test_a_reopened_conversation_tells_removed_citations_from_failures(
    console: Console, fake: FakeOpenAI
) -> None:
    ingest_policy(console)
    fake.queue_reply("Opened headphones can be returned within 14 days [1][7].")
    _, first = ask_all(console, QUESTION)
    fake.queue_reply(REPLY)
    fake.cut_stream_after(3)
    _, cut = ask_all(console, QUESTION, conversation_id=first.conversation_id)
    past = conversation_exchanges(console.engine, first.conversation_id)
    assert [(e.error, e.incomplete, e.removed_citations) for e in past[:1]] == [(None, False, {7})]
    assert past[1].error == cut.error and past[1].incomplete is True and past[1].removed_citations == set()


def test_the_not_known_sentence_is_logged_as_unanswered(console: Console, fake: FakeOpenAI) -> None:
    ingest_policy(console)
    fake.queue_reply(NOT_KNOWN)
    text, result = ask_all(console, "How long can opened laptops be returned?")
    assert text == result.answer == NOT_KNOWN
    assert result.answered is False and result.cited == set() and result.passages
    answer = answer_row(console, result.answer_id)
    assert (answer.answered, answer.error_code, answer.cost_usd is not None) == (False, None, True)
    cited = rows(console, sa.select(AnswerSource.cited).where(AnswerSource.answer_id == result.answer_id))
    assert cited and not any(c for (c,) in cited)


def test_nothing_relevant_makes_no_chat_call(console: Console, fake: FakeOpenAI) -> None:
    ingest_policy(console)
    before = len(fake.requests)
    text, result = ask_all(console, "Quantum zebra?")  # no word in common with the policy
    assert text == NOT_KNOWN and result.answered is False
    assert fake.paths[before:] == ["/v1/embeddings"]
    assert [c.purpose for c in calls_of(console, answer_id=result.answer_id)] == ["query_embedding"]


# 6. Follow-up questions


def test_follow_ups_carry_the_last_three_turns(console: Console, fake: FakeOpenAI) -> None:
    ingest_policy(console)
    questions = [
        QUESTION,
        "What is the shipping policy?",
        "What is the warranty policy?",
        "Who explains the gift cards rules?",
        "Where do customers ask about repairs?",
    ]
    conversation = None
    answers: list[str] = []
    for n, question in enumerate(questions, start=1):
        fake.queue_reply(f"Answer number {n} [1].")
        before = len(fake.requests)
        _, result = ask_all(console, question, conversation_id=conversation)
        conversation = result.conversation_id
        assert result.answered, question
        answers.append(result.answer)
        query_request, chat = fake.requests[before:]
        assert query_request["input"] == (
            [question] if n == 1 else [question, f"{questions[n - 2]} {question}"]
        )
        history = [
            message
            for q, a in list(zip(questions, answers, strict=False))[max(0, n - 4) : n - 1]
            for message in ({"role": "user", "content": q}, {"role": "assistant", "content": a})
        ]
        assert chat["messages"][1:-1] == history
        assert chat["messages"][-1]["content"].rstrip().endswith(question)
    assert len(history) == 6 and history[0]["content"] == questions[1]  # the first turn has aged out
    assert rows(console, sa.select(sa.func.count(sa.distinct(Answer.conversation_id)))) == [(1,)]


# 7. Failures


def test_persistent_chat_server_error(console: Console, fake: FakeOpenAI) -> None:
    ingest_policy(console)
    result = prepare(console, QUESTION, user="u")  # the query embedding succeeded
    fake.fail_next(500, times=console.settings.openai_max_retries + 1)
    before = len(fake.requests)
    assert list(stream(result)) == []
    assert len(fake.requests) - before == 2 and set(fake.paths[before:]) == {"/v1/chat/completions"}
    assert result.error is not None and "server error" in result.error
    assert (result.answer, result.answered, result.incomplete) == ("", False, False)
    assert result.passages and result.passages[0].text.startswith("Opened headphones")

    answer = answer_row(console, result.answer_id)
    assert (answer.error_code, answer.answered, answer.answer) == ("server_error", False, "")
    assert answer.error == result.error
    assert len(
        rows(console, sa.select(AnswerSource).where(AnswerSource.answer_id == result.answer_id))
    ) == len(result.passages)
    calls = calls_of(console, answer_id=result.answer_id)
    assert [(c.purpose, c.ok, c.error_code) for c in calls] == [
        ("query_embedding", True, None), ("chat", False, "server_error")
    ]  # fmt: skip

    # The failed exchange is not history for the next question of the conversation.
    fake.queue_reply(REPLY)
    _, again = ask_all(console, QUESTION, conversation_id=result.conversation_id)
    assert again.answered and sent(fake, "chat/completions")[-1]["messages"][1:-1] == []


def test_a_rate_limit_is_retried(console: Console, fake: FakeOpenAI) -> None:
    ingest_policy(console)
    result = prepare(console, QUESTION, user="u")
    fake.fail_next(429)
    fake.queue_reply(REPLY)
    assert "".join(stream(result)) == REPLY
    assert result.answered and result.error is None
    assert len(sent(fake, "chat/completions")) == 2
    answer = answer_row(console, result.answer_id)
    assert (answer.error_code, answer.answered, answer.tokens_out) == (None, True, words(REPLY))


def test_a_cut_stream_keeps_the_partial_answer(console: Console, fake: FakeOpenAI) -> None:
    ingest_policy(console)
    fake.queue_reply(REPLY)
    fake.cut_stream_after(3)
    text, result = ask_all(console, QUESTION)
    assert text == result.answer == "Opened headphones can"
    assert result.incomplete is True
    assert result.error is not None and "lost while the answer was streaming" in result.error
    assert len(sent(fake, "chat/completions")) == 1  # a started stream is not retried
    answer = answer_row(console, result.answer_id)
    assert (answer.answer, answer.incomplete, answer.error_code) == (
        "Opened headphones can",
        True,
        "connection",
    )
    assert answer.first_token_ms is not None and answer.generate_ms is not None
    chat = calls_of(console, answer_id=result.answer_id, purpose="chat")
    assert [(c.ok, c.error_code) for c in chat] == [(False, "connection")]
    assert answer.answered is False  # part of an answer is not an answer
    assert chat[0].cost_usd is None and answer.cost_usd is None  # usage never arrived: unknown


def test_a_server_that_reports_no_usage_leaves_the_cost_unknown(console: Console, fake: FakeOpenAI) -> None:
    ingest_policy(console)
    fake.stream_usage = False
    fake.queue_reply(REPLY)
    _, result = ask_all(console, QUESTION)
    assert result.answered
    assert answer_row(console, result.answer_id).cost_usd is None
    [chat] = calls_of(console, answer_id=result.answer_id, purpose="chat")
    assert (chat.ok, chat.cost_usd) == (True, None)


def test_an_abandoned_stream_is_closed_and_its_tokens_estimated(console: Console, fake: FakeOpenAI) -> None:
    ingest_policy(console)
    fake.token_delay_s = 0.05
    fake.queue_reply(REPLY)
    result = prepare(console, QUESTION, user="u")
    deltas = stream(result)
    partial = next(deltas) + next(deltas)
    deltas.close()  # the reader went away before the usage report at the stream's end
    answer = answer_row(console, result.answer_id)
    assert (answer.state, answer.answer, answer.incomplete) == ("interrupted", partial.strip(), True)
    [chat] = calls_of(console, answer_id=result.answer_id, purpose="chat")
    # Counted locally: the prompt's sources and question, and the text received.
    assert (
        chat.usage_estimated and chat.tokens_out == count_tokens(partial) and chat.tokens_in > words(QUESTION)
    )
    estimated = (CHAT_IN * chat.tokens_in + CHAT_OUT * chat.tokens_out) / MILLION
    assert chat.cost_usd == estimated and answer.cost_usd is not None and answer.cost_usd >= estimated


def test_generation_is_timed_inside_the_stream(open_openai: OpenConsole, fake: FakeOpenAI) -> None:
    console = open_openai()
    ingest_policy(console)
    fake.first_token_delay_s = 0.3
    fake.queue_reply(REPLY)
    _, result = ask_all(console, QUESTION)
    answer = answer_row(console, result.answer_id)
    assert (
        answer.generate_ms is not None and answer.first_token_ms is not None and answer.total_ms is not None
    )
    # The model's wait happens while the stream is read: both include it, neither is 0.
    assert answer.generate_ms >= 300 and answer.first_token_ms >= 300
    assert answer.first_token_ms <= answer.total_ms


def test_embedding_failure_during_ingestion_stores_nothing(
    open_openai: OpenConsole, fake: FakeOpenAI
) -> None:
    # One attempt per batch, one at a time: the SDK's own retries are all there is here.
    console = open_openai(EMBEDDING_CONCURRENCY="1", EMBEDDING_RETRY_ATTEMPTS="1")
    retries = console.settings.openai_max_retries
    fake.fail_request(2, 500, times=retries + 1)  # the second batch, and each of its retries

    result = ingest_policy(console)
    assert result.outcome == "failed" and not result.ok and result.document_id is None
    assert result.message.startswith("Embedding failed: OpenAI had a server error")
    assert len(sent(fake, "embeddings")) == 1 + retries + 1
    assert count(console, Document) == 0 and count(console, Chunk) == 0
    events = rows(
        console, sa.select(IngestionEvent.outcome, IngestionEvent.reason, IngestionEvent.document_id)
    )
    assert events == [("failed", result.message, None)]
    calls = calls_of(console, purpose="ingest_embedding")
    assert [(c.ok, c.error_code, c.document_id) for c in calls] == [
        (True, None, None),
        (False, "server_error", None),
    ]
    assert calls[0].tokens_in > 0 and calls[1].tokens_in == 0

    sent_before = len(sent(fake, "embeddings"))
    retried = ingest_policy(console)
    assert retried.outcome == "ingested", retried.message
    assert count(console, Document) == 1 and count(console, Chunk) == retried.chunk_count
    outcomes = rows(console, sa.select(IngestionEvent.outcome).order_by(IngestionEvent.id))
    assert outcomes == [("failed",), ("ingested",)]
    # The retry resumes at the batch that failed: the first one is not embedded again, and the
    # call that paid for it belongs to the document like the others.
    batches = math.ceil(retried.chunk_count / BATCH)
    assert len(sent(fake, "embeddings")) - sent_before == batches - 1
    paid = [c for c in calls_of(console, document_id=retried.document_id) if c.ok]
    assert len(paid) == batches


def test_ingestion_retries_a_failing_batch_and_resumes_where_it_stopped(
    open_openai: OpenConsole, fake: FakeOpenAI
) -> None:
    console = open_openai(EMBEDDING_CONCURRENCY="1", EMBEDDING_RETRY_WAIT="0.01")
    retries = console.settings.openai_max_retries
    # The second batch fails on its first attempt (the SDK's own retries included), then succeeds.
    fake.fail_request(2, 500, times=retries + 1)
    result = ingest_policy(console)
    assert result.outcome == "ingested", result.message
    batches = math.ceil(result.chunk_count / BATCH)
    requests = sent(fake, "embeddings")
    assert len(requests) == batches + retries + 1
    assert requests[0]["input"] != requests[1]["input"] == requests[-(batches - 1)]["input"]
    assert count(console, Chunk) == result.chunk_count
    calls = calls_of(console, purpose="ingest_embedding")
    assert [(c.ok, c.error_code) for c in calls] == [(True, None), (False, "server_error")] + [
        (True, None)
    ] * (batches - 1)


# 8. Prices


def test_a_chat_model_without_a_price_leaves_the_cost_unknown(
    open_openai: OpenConsole, fake: FakeOpenAI
) -> None:
    console = open_openai(CHAT_MODEL="some-unknown-model")
    ingest_policy(console)
    fake.queue_reply(REPLY)
    _, result = ask_all(console, QUESTION)
    assert result.answered and sent(fake, "chat/completions")[-1]["model"] == "some-unknown-model"
    answer = answer_row(console, result.answer_id)
    assert answer.model == "some-unknown-model" and answer.tokens_out == words(REPLY)
    assert answer.cost_usd is None  # unknown, not zero
    calls = {c.purpose: c for c in calls_of(console, answer_id=result.answer_id)}
    assert calls["chat"].cost_usd is None
    assert calls["query_embedding"].cost_usd == EMBEDDING_PRICE * words(QUESTION) / MILLION
    assert all(c.cost_usd for c in calls_of(console, purpose="ingest_embedding"))


def test_model_prices_setting_prices_a_custom_model(open_openai: OpenConsole, fake: FakeOpenAI) -> None:
    console = open_openai(CHAT_MODEL="my-model", MODEL_PRICES='{"my-model": [1.0, 4.0]}')
    ingest_policy(console)
    fake.queue_reply(REPLY)
    _, result = ask_all(console, QUESTION)
    answer = answer_row(console, result.answer_id)
    chat_cost = (Decimal(1) * answer.tokens_in + Decimal(4) * answer.tokens_out) / MILLION
    assert answer.cost_usd == EMBEDDING_PRICE * words(QUESTION) / MILLION + chat_cost


# 9. Switching the embedding model


def test_switching_the_embedding_model_of_a_filled_knowledge_base_is_refused(
    open_openai: OpenConsole, fake: FakeOpenAI
) -> None:
    console = open_openai()
    assert ingest_policy(console).ok
    with pytest.raises(EmbeddingModelMismatch) as info:
        open_openai(EMBEDDING_MODEL="another-model")
    message = str(info.value)
    assert "text-embedding-3-small (1536 dimensions)" in message
    assert f"another-model ({fake.dims} dimensions)" in message
    assert "EMBEDDING_MODEL" in message and "KNOWLEDGE_BASE" in message
    kb = rows(console, sa.select(KnowledgeBase.embedding_model, KnowledgeBase.embedding_dimensions))
    assert kb == [("text-embedding-3-small", 1536)]

    other = open_openai(EMBEDDING_MODEL="another-model", KNOWLEDGE_BASE="other")
    assert (other.kb.embedding_model, other.kb.dimensions) == ("another-model", fake.dims)


def test_an_empty_knowledge_base_follows_the_new_model(open_openai: OpenConsole, fake: FakeOpenAI) -> None:
    open_openai()
    switched = open_openai(EMBEDDING_MODEL="another-model")
    assert (switched.kb.embedding_model, switched.kb.dimensions) == ("another-model", fake.dims)
    assert ingest_policy(switched).ok
    fake.queue_reply(REPLY)
    _, result = ask_all(switched, QUESTION)
    assert result.answered and result.passages[0].text.startswith("Opened headphones")
