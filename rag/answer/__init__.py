"""Answering a question: prepare -> stream -> finish.

In: a question, who asks it, and the conversation it continues. `prepare` checks it (length,
per-user limits), logs it as in progress, reads the recent turns, looks for a cached answer, then
retrieves passages; `stream` yields the answer's text as the generator writes it (or "I don't
know" when nothing is relevant) and, when it ends or is abandoned, checks the citations against
the passages sent, logs the answer with its sources, model calls, tokens, cost and time per
stage, and caches it. Out: the finished
`Answer`. Also here: conversations, feedback on answers, and Markdown made safe to render.
"""

from rag.answer.conversations import (
    ConversationSummary,
    PastExchange,
    conversation_exchanges,
    conversation_owner,
    list_conversations,
)
from rag.answer.feedback import REASON_LABELS, record_feedback
from rag.answer.log import ABANDONED, AnswerKind, close_abandoned_answers
from rag.answer.not_known import NOT_KNOWN, is_not_known
from rag.answer.pipeline import INTERRUPTED, NO_CONVERSATION, Answer, abandon, prepare, stream
from rag.answer.safe_markdown import known_urls, safe_markdown

__all__ = [
    "ABANDONED",
    "INTERRUPTED",
    "NOT_KNOWN",
    "NO_CONVERSATION",
    "REASON_LABELS",
    "Answer",
    "AnswerKind",
    "ConversationSummary",
    "PastExchange",
    "abandon",
    "close_abandoned_answers",
    "conversation_exchanges",
    "conversation_owner",
    "is_not_known",
    "known_urls",
    "list_conversations",
    "prepare",
    "record_feedback",
    "safe_markdown",
    "stream",
]
