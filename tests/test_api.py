"""The HTTP API, served by uvicorn on 127.0.0.1 and called over real HTTP: raw requests for the
console's own /v1/chat, the official `openai` SDK for the OpenAI-compatible face."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx  # what the openai SDK is built on
import openai
import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from rag.analytics import Period, cost_totals
from rag.answer.curated import write_curated_answer
from rag.auth import add_user, set_active
from rag.auth.api_keys import create_api_key, revoke_api_key
from rag.console import Console
from rag.ingest.pipeline import ingest_file
from rag.providers.extractive import ExtractiveGenerator
from tests.api_server import serving_api
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder
from tests.test_pages import app_env
from tests.workers import REPO, process_env, wait_until, worker_env

RETURNS = (
    b"# Returns\n\nOpened headphones can be returned within 14 days of delivery. "
    b"Refunds reach the original payment method within 5-10 business days."
)
QUESTION = "How long can opened headphones be returned?"
OWNER = "agent@example.com"


class Api:
    def __init__(self, console: Console, base_url: str) -> None:
        self.console, self.base_url = console, base_url
        self.key, view = create_api_key(
            console.engine, name="helpdesk widget", owner=OWNER, knowledge_base=console.kb.name, actor="test"
        )
        self.key_id = view.id

    def post(self, path: str, body: object, *, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key if key is None else key}"} if key != "" else {}
        return httpx.post(self.base_url + path, json=body, headers=headers, timeout=30, **kw)

    def sdk(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(api_key=key or self.key, base_url=self.base_url + "/v1", max_retries=0)


@pytest.fixture
def api(make_console: ConsoleFactory) -> Iterator[Api]:
    embedder = HashEmbedder(dims=1024)
    console = make_console(
        embedder=embedder,
        generator=ExtractiveGenerator(embedder=embedder),
        MIN_RELEVANCE="0.2",
        MAX_QUESTIONS_PER_MINUTE="5",
    )
    assert ingest_file(console, "returns.md", RETURNS, user="km").ok
    add_user(console.engine, OWNER, "agent", actor="test")
    with serving_api(console) as base_url:
        yield Api(console, base_url)


def error_of(response: httpx.Response) -> str:
    return str(response.json()["error"]["message"])


def test_health_and_docs_need_no_key(api: Api) -> None:
    health = httpx.get(api.base_url + "/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["database"] == "ok"
    docs = httpx.get(api.base_url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = httpx.get(api.base_url + "/openapi.json").json()
    assert {"/v1/chat", "/v1/chat/completions", "/v1/health", "/v1/models"} <= set(schema["paths"])


def test_chat_answers_with_cited_sources_and_continues_the_conversation(api: Api) -> None:
    response = api.post("/v1/chat", {"message": QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answered"] and body["state"] == "done" and "14 days" in body["answer"]
    assert (
        "[1]" in body["answer"]
        and body["sources"][0]["cited"]
        and body["sources"][0]["document"] == "Returns"
    )
    follow_up = api.post(
        "/v1/chat", {"message": "And the refunds?", "conversation_id": body["conversation_id"]}
    )
    assert follow_up.status_code == 200 and follow_up.json()["conversation_id"] == body["conversation_id"]
    with api.console.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT user_name, kind, state, conversation_id FROM answers ORDER BY id")
        ).all()
    assert [(r.user_name, r.kind, r.state) for r in rows] == [("key:helpdesk widget", "question", "done")] * 2
    assert len({r.conversation_id for r in rows}) == 1


def test_chat_streams_server_sent_events_with_the_sources_last(api: Api) -> None:
    with httpx.stream(
        "POST",
        api.base_url + "/v1/chat?stream=true",
        json={"message": QUESTION},
        headers={"Authorization": f"Bearer {api.key}"},
        timeout=30,
    ) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "text/event-stream"
        )
        events = [
            (
                block.split("\n")[0].removeprefix("event: "),
                json.loads(block.split("\n")[1].removeprefix("data: ")),
            )
            for block in response.read().decode().strip().split("\n\n")
        ]
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "sources" and set(kinds[:-1]) == {"delta"} and len(kinds) > 2
    text = "".join(data["text"] for kind, data in events if kind == "delta")
    final = events[-1][1]
    assert text.strip() == final["answer"] and final["answered"] and final["sources"][0]["cited"]


def test_a_curated_answer_says_who_wrote_it_and_when(api: Api) -> None:
    generated = api.post("/v1/chat", {"message": QUESTION}).json()
    assert generated["curated_by"] is None and generated["curated_at"] is None
    with api.console.engine.connect() as conn:
        returns = conn.execute(sa.text("SELECT id FROM documents WHERE filename = 'returns.md'")).scalar_one()
    write_curated_answer(
        api.console,
        question=QUESTION,
        answer="Within 14 days of delivery, opened or not [1].",
        document_ids=[returns],
        author="km@example.com",
    )
    body = api.post("/v1/chat", {"message": QUESTION}).json()
    assert body["answer"] == "Within 14 days of delivery, opened or not [1]."
    assert body["curated_by"] == "km@example.com"
    assert datetime.fromisoformat(body["curated_at"]).date() == datetime.now(UTC).date()
    assert body["sources"][0]["document"] == "Returns" and body["sources"][0]["cited"]
    completion = api.sdk().chat.completions.create(
        model=api.console.kb.name, messages=[{"role": "user", "content": QUESTION}]
    )
    extra = completion.model_extra or {}
    assert extra["curated_by"] == "km@example.com"
    assert datetime.fromisoformat(extra["curated_at"]) == datetime.fromisoformat(body["curated_at"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"message": ""}, "Please type a question."),
        ({"message": "x " * 3000}, "the limit is 2,000"),
        ({}, "message: Field required"),
    ],
)
def test_bad_messages_get_400_with_a_clear_message(api: Api, body: object, message: str) -> None:
    response = api.post("/v1/chat", body)
    assert response.status_code == 400 and message in error_of(response)


def test_not_json_gets_400_and_other_methods_405(api: Api) -> None:
    response = httpx.post(
        api.base_url + "/v1/chat", content=b"hello", headers={"Authorization": f"Bearer {api.key}"}
    )
    assert response.status_code == 400 and "must be JSON" in error_of(response)
    for method in ("GET", "PUT", "DELETE"):
        wrong = httpx.request(method, api.base_url + "/v1/chat")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"


def test_keys_missing_wrong_revoked_or_of_a_deactivated_account_get_401(api: Api) -> None:
    assert api.post("/v1/chat", {"message": QUESTION}, key="").status_code == 401
    wrong = api.post("/v1/chat", {"message": QUESTION}, key="kc_not-a-key")
    assert wrong.status_code == 401 and error_of(wrong) == "Invalid or revoked API key."
    assert wrong.headers["www-authenticate"] == "Bearer"
    set_active(api.console.engine, OWNER, False, actor="test")
    assert api.post("/v1/chat", {"message": QUESTION}).status_code == 401
    set_active(api.console.engine, OWNER, True, actor="test")
    assert api.post("/v1/chat", {"message": QUESTION}).status_code == 200
    revoke_api_key(api.console.engine, api.key_id, actor="test")
    assert api.post("/v1/chat", {"message": QUESTION}).status_code == 401


def test_a_conversation_of_someone_else_is_not_continued(api: Api) -> None:
    other, _ = create_api_key(
        api.console.engine, name="other tool", owner=OWNER, knowledge_base=api.console.kb.name, actor="t"
    )
    first = api.post("/v1/chat", {"message": QUESTION}).json()
    taken = api.post(
        "/v1/chat", {"message": "And refunds?", "conversation_id": first["conversation_id"]}, key=other
    )
    assert taken.status_code == 404 and "Unknown conversation" in error_of(taken)


def test_the_openai_sdk_gets_answers_with_sources(api: Api) -> None:
    client = api.sdk()
    assert [m.id for m in client.models.list()] == [api.console.kb.name]
    completion = client.chat.completions.create(
        model=api.console.kb.name, messages=[{"role": "user", "content": QUESTION}]
    )
    content = completion.choices[0].message.content or ""
    assert "14 days" in content and "[1]" in content and "\n\nSources:\n[1] Returns" in content
    extra = completion.model_extra or {}
    assert extra["answered"] and extra["sources"][0]["document"] == "Returns"
    assert completion.usage is not None and completion.usage.completion_tokens > 0

    chunks = list(
        client.chat.completions.create(
            model=api.console.kb.name,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is the return window?"},
                {"role": "assistant", "content": "14 days [1]."},
                {"role": "user", "content": QUESTION},
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == content
    assert chunks[-1].choices[0].finish_reason == "stop" and (chunks[-1].model_extra or {})["sources"]
    assert chunks[-1].usage is not None


def test_the_openai_sdk_sees_wrong_keys_scopes_and_limits(api: Api) -> None:
    with pytest.raises(openai.AuthenticationError, match="Invalid or revoked API key"):
        api.sdk("kc_wrong").chat.completions.create(
            model=api.console.kb.name, messages=[{"role": "user", "content": QUESTION}]
        )
    with pytest.raises(openai.PermissionDeniedError, match="may only ask the knowledge base"):
        api.sdk().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    client = api.sdk()
    for _ in range(5):  # MAX_QUESTIONS_PER_MINUTE=5, counted for the key
        client.chat.completions.create(
            model=api.console.kb.name, messages=[{"role": "user", "content": QUESTION}]
        )
    with pytest.raises(openai.RateLimitError, match="5 questions in the last minute"):
        client.chat.completions.create(
            model=api.console.kb.name, messages=[{"role": "user", "content": QUESTION}]
        )


def test_answers_asked_through_the_api_count_in_the_analytics(api: Api) -> None:
    for _ in range(2):
        assert api.post("/v1/chat", {"message": QUESTION}).status_code == 200
    today = datetime.now(UTC).date()
    totals = cost_totals(api.console.engine, Period(today, today, False))
    assert totals.answers == 2


def test_python_m_rag_api_serves(database_url: str, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = process_env(worker_env(database_url, tmp_path / "data", API_PORT=str(port)), "kc-api")
    proc = subprocess.Popen([sys.executable, "-m", "rag", "api"], cwd=REPO, env=env, stderr=subprocess.PIPE)
    try:

        def healthy() -> bool:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                return httpx.get(f"http://127.0.0.1:{port}/v1/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, what="python -m rag api to answer /v1/health", timeout=60)
        assert httpx.post(f"http://127.0.0.1:{port}/v1/chat", json={"message": "hi"}).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_answers_asked_through_the_api_show_on_the_overview_page(
    api: Api, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        assert api.post("/v1/chat", {"message": QUESTION}).status_code == 200
    # The page's own console: another knowledge base (the local model); the analytics are global.
    for name, value in app_env(database_url, tmp_path / "app", KNOWLEDGE_BASE="pages").items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(REPO / "pages/analytics_overview.py"), default_timeout=120).run()
        assert not at.exception, [e.message for e in at.exception]
        assert next(m.value for m in at.metric if m.label == "Questions") == "3"
    finally:
        st.cache_resource.clear()
