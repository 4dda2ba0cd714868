"""What the HTTP API takes and returns: the console's own chat, and OpenAI's chat completions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rag.answer import Answer
from rag.retrieval import Passage


class ChatRequest(BaseModel):
    message: str = Field(description="The question.", examples=["How long do refunds take?"])
    conversation_id: uuid.UUID | None = Field(
        default=None, description="Continue this conversation (returned by an earlier answer)."
    )


class Source(BaseModel):
    number: int = Field(description="The [n] the answer cites it by.")
    document: str
    document_id: int
    location: str = Field(description="Page or section within the document.")
    score: float
    cited: bool
    text: str


class ChatResponse(BaseModel):
    answer: str
    answered: bool = Field(description="False when the documents do not answer the question.")
    confidence: str | None = Field(
        description="high; low: answered from passages that only partly match (check the sources)."
    )
    state: str = Field(description="done, failed or interrupted.")
    incomplete: bool
    error: str | None
    conversation_id: uuid.UUID | None
    answer_id: int
    curated_by: str | None = Field(
        default=None, description="A curated answer: who wrote it (None: generated or cached)."
    )
    curated_at: datetime | None = Field(default=None, description="A curated answer: when it was written.")
    sources: list[Source]


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool calls...: accepted and ignored
    role: str
    content: str | list[dict[str, Any]] | None = None


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens...: the console's settings apply
    model: str
    messages: list[Message]
    stream: bool = False


class ErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def sources_of(answer: Answer) -> list[Source]:
    return [_source(p, p.number in answer.cited) for p in answer.passages]


def _source(p: Passage, cited: bool) -> Source:
    return Source(
        number=p.number,
        document=p.document,
        document_id=p.document_id,
        location=p.location,
        score=round(p.score, 4),
        cited=cited,
        text=p.text,
    )


def chat_response(answer: Answer) -> ChatResponse:
    return ChatResponse(
        answer=answer.answer,
        answered=answer.answered,
        confidence=answer.confidence if answer.answered else None,
        state=answer.state or "in_progress",
        incomplete=answer.incomplete,
        error=answer.error,
        conversation_id=answer.conversation_id if answer.conversation_id.int else None,
        answer_id=answer.answer_id,
        curated_by=answer.curated_by,
        curated_at=answer.curated_at,
        sources=sources_of(answer),
    )
