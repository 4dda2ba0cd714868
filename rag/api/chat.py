"""POST /v1/chat: a question (and the conversation it continues) in, the answer and its sources out;
`?stream=true` sends the text as server-sent events, the sources last."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from rag.answer import conversation_owner, prepare, stream
from rag.api.errors import ApiError
from rag.api.keys import caller_of
from rag.api.schemas import ChatRequest, ChatResponse, ErrorResponse, chat_response
from rag.api.streaming import relay, sse
from rag.auth.api_keys import KeyCaller

router = APIRouter()
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 405, 429, 502, 503)
}


@router.post("/v1/chat", response_model=ChatResponse, responses=ERRORS, summary="Ask the knowledge base")
def chat(
    body: ChatRequest,
    request: Request,
    caller: Annotated[KeyCaller, Depends(caller_of)],
    streamed: Annotated[bool, Query(alias="stream", description="Stream server-sent events.")] = False,
) -> ChatResponse | StreamingResponse:
    """Answer from the key's knowledge base, citing sources as [n]. Logged, limited and counted in
    cost and latency like the chat page's answers, under the key's name."""
    console = request.app.state.consoles.for_knowledge_base(caller.knowledge_base)
    if (
        body.conversation_id is not None
        and conversation_owner(console.engine, body.conversation_id) != caller.label
    ):
        raise ApiError(
            404,
            "Unknown conversation: start a new one without conversation_id.",
            type_="invalid_request_error",
            code="conversation_not_found",
        )
    answer = prepare(console, body.message, user=caller.label, conversation_id=body.conversation_id)
    if not streamed:
        for _ in stream(answer):
            pass
        return chat_response(answer)

    def closing() -> list[str]:
        return [sse(chat_response(answer).model_dump(mode="json"), event="sources")]

    frames = relay(stream(answer), lambda delta: sse({"text": delta}, event="delta"), closing)
    return StreamingResponse(frames, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
