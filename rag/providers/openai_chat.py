"""Answers streamed from the OpenAI chat completions API, grounded in numbered sources."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import cast

import openai
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from rag.errors import ModelError
from rag.providers.generator import AnswerRequest, Generation, Source, Usage
from rag.providers.openai_client import model_error
from rag.providers.retry import DEFAULT_POLICY, RetryPolicy, with_retries

PROMPTS_DIR = Path(__file__).parent / "prompts"
_CUT_MESSAGE = "The connection to OpenAI was lost while the answer was streaming; try again."
# Only something that looks like a <source> or </source> tag is neutralised, so code and
# comparisons in documents reach the model unchanged.
_SOURCE_TAG = re.compile(r"<(?=\s*/?\s*source\b)", re.IGNORECASE)


class OpenAIChatGenerator:
    mode = "openai"

    def __init__(
        self,
        *,
        client: openai.OpenAI,
        model: str,
        temperature: float,
        max_tokens: int,
        retry: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        self.model = model
        self._client = client
        self._retry = retry
        self._temperature = temperature
        self._max_tokens = max_tokens

    def generate(self, request: AnswerRequest) -> Generation:
        # build_messages only emits system/user/assistant text messages, which the SDK accepts.
        messages = cast(list[ChatCompletionMessageParam], build_messages(request))
        started = time.perf_counter()
        # Only opening the stream is retried: once text has been shown, a retry would repeat it.
        stream = with_retries(
            lambda: self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=self._temperature,
                max_tokens=self._max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            ),
            self._retry,
        )
        usage = Usage(reported=False)  # until the stream's final usage chunk arrives
        return Generation(_deltas(stream, usage), model=self.model, usage=usage, started=started)


def build_messages(request: AnswerRequest) -> list[dict[str, str]]:
    """System prompt, earlier turns as user/assistant pairs, then the sources and the question."""
    messages = [{"role": "system", "content": _prompt("answer_system.txt")}]
    for turn in request.history:
        messages.append({"role": "user", "content": turn.question})
        messages.append({"role": "assistant", "content": turn.answer})
    sources = "\n\n".join(render_source(p) for p in request.passages)
    user = _prompt("answer_user.txt").format(sources=sources, question=request.question)
    messages.append({"role": "user", "content": user})
    return messages


def render_source(passage: Source) -> str:
    """A delimited block the passage's text cannot close or forge."""
    return (
        f'<source id="{passage.number}" document="{_attribute(passage.document)}" '
        f'location="{_attribute(passage.location)}">\n{_SOURCE_TAG.sub("&lt;", passage.text)}\n</source>'
    )


def _attribute(value: str) -> str:
    return html.escape(" ".join(value.split()), quote=False).replace('"', "&quot;")


@cache
def _prompt(name: str) -> str:
    return (PROMPTS_DIR / name).read_text(encoding="utf-8").strip()


def _deltas(stream: openai.Stream[ChatCompletionChunk], usage: Usage) -> Iterator[str]:
    # Closing the stream on early exit releases the HTTP connection the answer was using.
    with stream:
        try:
            for chunk in stream:
                if chunk.usage is not None:
                    usage.tokens_in = chunk.usage.prompt_tokens
                    usage.tokens_out = chunk.usage.completion_tokens
                    usage.reported = True
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.OpenAIError as exc:
            error = model_error(exc)
            message = _CUT_MESSAGE if error.code == "connection" else f"The answer stopped part-way. {error}"
            raise ModelError(message, code=error.code) from exc
