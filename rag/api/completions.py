"""POST /v1/chat/completions and GET /v1/models: the knowledge base as an OpenAI model.

Any OpenAI client (the official SDK, LangChain, an IDE plug-in) points its base URL at
`http://host:port/v1`, uses an API key as its key and the knowledge base's name as the model.
The last user message is the question; earlier user/assistant pairs are the conversation (the
console keeps none for these calls beyond the log); system messages are ignored, since the
console's own instructions (answer from the sources, cite, say when they do not answer) apply.
The answer cites sources as [n]; they are listed after it and in an extra `sources` field.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from rag.answer import Answer, prepare, stream
from rag.api.errors import ApiError
from rag.api.keys import caller_of
from rag.api.schemas import CompletionRequest, ErrorResponse, Message, sources_of
from rag.api.streaming import relay, sse
from rag.auth.api_keys import KeyCaller
from rag.providers.generator import Turn

router = APIRouter()
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 429, 502, 503)
}


@router.get("/v1/models", summary="The knowledge base this key may ask, as a model")
def models(caller: Annotated[KeyCaller, Depends(caller_of)]) -> dict[str, Any]:
    return {"object": "list", "data": [_model(caller.knowledge_base)]}


@router.post("/v1/chat/completions", responses=ERRORS, summary="OpenAI-compatible chat completions")
def completions(
    body: CompletionRequest, request: Request, caller: Annotated[KeyCaller, Depends(caller_of)]
) -> Any:
    if body.model != caller.knowledge_base:
        raise ApiError(
            403,
            f"This key may only ask the knowledge base {caller.knowledge_base!r}: use it as the model.",
            type_="invalid_request_error",
            code="model_not_allowed",
        )
    question, history = _conversation(body.messages)
    console = request.app.state.consoles.for_knowledge_base(caller.knowledge_base)
    answer = prepare(console, question, user=caller.label, history=history)
    created = int(time.time())
    if not body.stream:
        for _ in stream(answer):
            pass
        return _completion(answer, body.model, created)

    def chunk(delta: str) -> str:
        return sse(_chunk(answer, body.model, created, {"content": delta}))

    def closing() -> list[str]:
        listed = _sources_text(answer)
        frames = [sse(_chunk(answer, body.model, created, {"content": listed}))] if listed else []
        last = _chunk(answer, body.model, created, {}, finish_reason="stop")
        include_usage = (getattr(body, "stream_options", None) or {}).get("include_usage")
        if include_usage:
            last["usage"] = _usage(answer)
        return [*frames, sse(last), "data: [DONE]\n\n"]

    first = sse(_chunk(answer, body.model, created, {"role": "assistant", "content": ""}))
    frames = relay(stream(answer), chunk, closing)
    return StreamingResponse(_after(first, frames), media_type="text/event-stream")


async def _after(first: str, rest: Any) -> Any:
    yield first
    async for frame in rest:
        yield frame


def _conversation(messages: list[Message]) -> tuple[str, list[Turn]]:
    """The last user message, and the user/assistant pairs before it."""
    said = [(m.role, _text(m)) for m in messages if m.role in ("user", "assistant")]
    if not said or said[-1][0] != "user":
        raise ApiError(400, "The last message must be the user's question.", type_="invalid_request_error")
    turns, pending = [], None
    for role, text in said[:-1]:
        if role == "user":
            pending = text
        elif pending is not None:
            turns.append(Turn(pending, text))
            pending = None
    return said[-1][1], turns


def _text(message: Message) -> str:
    if isinstance(message.content, list):  # content parts: the text ones
        return " ".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")
    return message.content or ""


def _sources_text(answer: Answer) -> str:
    cited = [p for p in answer.passages if p.number in answer.cited]
    if not cited:
        return ""
    lines = [f"[{p.number}] {p.document}" + (f", {p.location}" if p.location else "") for p in cited]
    return "\n\nSources:\n" + "\n".join(lines)


def _usage(answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.tokens_in,
        "completion_tokens": answer.tokens_out,
        "total_tokens": answer.tokens_in + answer.tokens_out,
    }


def _extra(answer: Answer) -> dict[str, Any]:
    return {
        "sources": [s.model_dump() for s in sources_of(answer)],
        "answered": answer.answered,
        "confidence": answer.confidence if answer.answered else None,
        "answer_id": answer.answer_id,
        "curated_by": answer.curated_by,
        "curated_at": answer.curated_at.isoformat() if answer.curated_at else None,
    }


def _completion(answer: Answer, model: str, created: int) -> dict[str, Any]:
    message = {"role": "assistant", "content": answer.answer + _sources_text(answer)}
    return {
        "id": f"chatcmpl-{answer.answer_id}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": _usage(answer),
        **_extra(answer),
    }


def _chunk(
    answer: Answer, model: str, created: int, delta: dict[str, str], *, finish_reason: str | None = None
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": f"chatcmpl-{answer.answer_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if finish_reason is not None:
        chunk.update(_extra(answer))
    return chunk


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "knowledge-console"}
