"""Writing simulated traffic with COPY: conversations, answers, sources, model calls and feedback."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.answer.not_known import NOT_KNOWN
from rag.console import Console
from rag.demo.catalog import Catalog
from rag.demo.copy_text import NULL, Ints, copy, esc, fixed, flags, num, timestamps
from rag.demo.templates import AGENTS, COMMENTS, DOWN_REASONS, ERRORS, HOURLY, KNOWLEDGE_MANAGER, MODELS
from rag.demo.traffic import Traffic, simulate
from rag.providers.factory import OPENAI_EMBEDDING_MODEL
from rag.usage.pricing import Price, cost_usd

QUERY_CALL = f"query_embedding\topenai\t{OPENAI_EMBEDDING_MODEL}"
# fmt: off
ANSWER_COLUMNS = (
    "id", "conversation_id", "knowledge_base_id", "question", "answer", "answered", "incomplete",
    "best_score", "answer_mode", "model", "embedding_model", "tokens_in", "tokens_out", "cost_usd",
    "embed_ms", "cache_ms", "retrieve_ms", "generate_ms", "log_ms", "first_token_ms", "total_ms",
    "cache_hit", "error_code", "error", "user_name", "is_demo", "state", "kind", "created_at",
    "finished_at",
)
SOURCE_COLUMNS = (
    "answer_id", "number", "chunk_id", "document_id", "document_title", "location", "snippet", "score",
    "cited",
)
CALL_COLUMNS = (
    "purpose", "provider", "model", "tokens_in", "tokens_out", "cost_usd", "duration_ms", "ok",
    "error_code", "answer_id", "document_id", "user_name", "is_demo", "created_at",
)
# fmt: on
FEEDBACK_COLUMNS = ("answer_id", "rating", "reason", "comment", "user_name", "created_at")


def prepare(cursor: Any, vectors: npt.NDArray[np.float32] | None) -> None:
    cursor.execute(
        "CREATE TEMP TABLE demo_question_vectors (variant integer PRIMARY KEY, embedding vector) "
        "ON COMMIT DROP; "
        "CREATE TEMP TABLE demo_answers_stage (LIKE answers INCLUDING DEFAULTS INCLUDING GENERATED) "
        "ON COMMIT DROP; "
        "ALTER TABLE demo_answers_stage ADD COLUMN variant integer"
    )
    if vectors is not None:
        lines = [f"{i}\t[{','.join(f'{x:.7g}' for x in v)}]" for i, v in enumerate(vectors.tolist())]
        copy(cursor, "demo_question_vectors", ("variant", "embedding"), lines)


def write_batch(
    cursor: Any,
    rng: np.random.Generator,
    n: int,
    window: tuple[float, float],
    catalog: Catalog,
    console: Console,
) -> Ints:
    """Simulate and write `n` answers; return counts of answers, conversations, sources, calls, feedback."""
    s = simulate(rng, n, window, catalog)
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence('answers', 'id')) FROM generate_series(1, %s)", (n,)
    )
    ids = [str(row[0]) for row in cursor.fetchall()]
    conversations = [str(uuid.uuid4()) for _ in s.agent.tolist()]
    agents = [AGENTS[a] for a in s.agent.tolist()]
    openers = s.variant[s.first_of_conversation].tolist()
    starts = timestamps(s.created[s.first_of_conversation])
    copy(
        cursor,
        "conversations",
        ("id", "user_name", "title", "created_at"),
        [
            f"{c}\t{a}\t{catalog.titles[v]}\t{t}"
            for c, a, v, t in zip(conversations, agents, openers, starts, strict=True)
        ],
    )
    stamps = timestamps(s.created)
    users = [agents[c] for c in s.conversation.tolist()]
    costs, calls = _answer_calls(s, ids, users, stamps, console.settings.prices)
    columns = [
        ids,
        [conversations[c] for c in s.conversation.tolist()],
        [str(console.kb.id)] * n,
        [catalog.questions[v] for v in s.variant.tolist()],
        _answer_texts(s, catalog),
        flags(s.answered),
        ["f"] * n,
        fixed(s.best_score, 4),
        [MODELS[m][0] for m in s.model.tolist()],
        [MODELS[m][1] for m in s.model.tolist()],
        [OPENAI_EMBEDDING_MODEL] * n,
        [str(x) for x in s.tokens_in.tolist()],
        [str(x) for x in s.tokens_out.tolist()],
        [num(c) for c in costs],
        fixed(s.embed_ms, 2),
        fixed(s.cache_ms, 2),
        fixed(s.retrieve_ms, 2),
        fixed(s.chat_ms, 1, where=s.chat),
        fixed(s.log_ms, 2),
        fixed(s.first_token_ms, 1, where=s.error == ""),
        fixed(s.total_ms, 1),
        ["f"] * n,
        [e or NULL for e in s.error.tolist()],
        [ERRORS[e] if e else NULL for e in s.error.tolist()],
        users,
        ["t"] * n,
        ["failed" if e else "done" for e in s.error.tolist()],
        ["question"] * n,
        stamps,
        timestamps(s.created + s.total_ms / 1000),
        [str(v) for v in s.variant.tolist()],
    ]
    copy(
        cursor,
        "demo_answers_stage",
        (*ANSWER_COLUMNS, "variant"),
        ["\t".join(r) for r in zip(*columns, strict=True)],
    )
    names = ", ".join(ANSWER_COLUMNS)
    cursor.execute(
        f"INSERT INTO answers ({names}, question_embedding) "
        f"SELECT {', '.join(f's.{c}' for c in ANSWER_COLUMNS)}, v.embedding "
        "FROM demo_answers_stage s LEFT JOIN demo_question_vectors v ON v.variant = s.variant; "
        "TRUNCATE demo_answers_stage"
    )
    sources = _source_lines(s, ids, catalog)
    copy(cursor, "answer_sources", SOURCE_COLUMNS, sources)
    copy(cursor, "model_calls", CALL_COLUMNS, calls)
    feedback = _feedback_lines(rng, s, ids, users)
    copy(cursor, "feedback", FEEDBACK_COLUMNS, feedback)
    return np.array([n, len(conversations), len(sources), len(calls), len(feedback)], dtype=np.int64)


def _answer_calls(
    s: Traffic, ids: list[str], users: list[str], stamps: list[str], prices: dict[str, Price]
) -> tuple[list[Decimal | None], list[str]]:
    """The model_calls lines of each answer (query embedding, then chat) and the answer's cost."""
    costs: list[Decimal | None] = []
    lines = []
    rows = zip(
        ids, users, stamps, s.model.tolist(), s.error.tolist(), s.chat.tolist(), s.embed_tokens.tolist(),
        s.tokens_in.tolist(), s.tokens_out.tolist(), s.embed_ms.tolist(), s.chat_ms.tolist(), strict=True,
    )  # fmt: skip
    for (
        answer_id,
        user,
        stamp,
        model,
        error,
        chat,
        embed_tokens,
        tokens_in,
        tokens_out,
        embed_ms,
        chat_ms,
    ) in rows:
        cost = cost_usd(prices, OPENAI_EMBEDDING_MODEL, embed_tokens)
        tail = f"\t{answer_id}\t{NULL}\t{user}\tt\t{stamp}"
        lines.append(f"{QUERY_CALL}\t{embed_tokens}\t0\t{num(cost)}\t{embed_ms:.1f}\tt\t{NULL}{tail}")
        if chat:
            mode, name = MODELS[model]
            chat_cost = cost_usd(prices, name, tokens_in, tokens_out)
            cost = None if cost is None or chat_cost is None else cost + chat_cost
            outcome = f"f\t{error}" if error else f"t\t{NULL}"
            lines.append(
                f"chat\t{mode}\t{name}\t{tokens_in}\t{tokens_out}\t{num(chat_cost)}\t{chat_ms:.1f}\t{outcome}{tail}"
            )
        costs.append(cost)
    return costs, lines


def _answer_texts(s: Traffic, catalog: Catalog) -> list[str]:
    not_known = esc(NOT_KNOWN)
    return [
        catalog.answers[t][c - 1] if answered else ("" if error else not_known)
        for t, c, answered, error in zip(
            s.template.tolist(), s.cited.tolist(), s.answered.tolist(), s.error.tolist(), strict=True
        )
    ]


def _source_lines(s: Traffic, ids: list[str], catalog: Catalog) -> list[str]:
    lines = []
    rows = zip(
        ids, s.variant.tolist(), s.source_count.tolist(), s.cited.tolist(), s.scores.tolist(), strict=True
    )
    for answer_id, variant, count, cited, scores in rows:
        candidates = catalog.sources[variant]
        for k in range(min(count, len(candidates))):
            flag = "t" if k < cited else "f"
            lines.append(f"{answer_id}\t{k + 1}\t{candidates[k]}\t{scores[k]:.4f}\t{flag}")
    return lines


def _feedback_lines(rng: np.random.Generator, s: Traffic, ids: list[str], users: list[str]) -> list[str]:
    """A thumbs up or down on about a quarter of the answers; downs say why, a few add a comment."""
    n = len(ids)
    rated = (s.error == "") & (rng.random(n) < 0.25)
    up = rng.random(n) < np.where(s.answered, np.where(s.best_score < 0.48, 0.6, 0.86), 0.12)
    reason = rng.choice(len(DOWN_REASONS), n, p=[0.35, 0.25, 0.15, 0.25]).tolist()
    comment = rng.choice(len(COMMENTS), n).tolist()
    commented = (rng.random(n) < 0.15).tolist()
    stamps = timestamps(s.created + rng.uniform(5, 240, n))
    lines = []
    for i in np.flatnonzero(rated).tolist():
        if up[i]:
            lines.append(f"{ids[i]}\t1\t{NULL}\t{NULL}\t{users[i]}\t{stamps[i]}")
            continue
        why = DOWN_REASONS[reason[i]] if s.answered[i] else "missing"
        note = esc(COMMENTS[comment[i]]) if commented[i] else NULL
        lines.append(f"{ids[i]}\t-1\t{why}\t{note}\t{users[i]}\t{stamps[i]}")
    return lines


def write_ingest_calls(
    cursor: Any,
    rng: np.random.Generator,
    window: tuple[float, float],
    catalog: Catalog,
    prices: dict[str, Price],
) -> int:
    """A knowledge manager's uploads: a few embedding batches per document, mostly on weekdays."""
    lines = []
    for day in np.arange(np.floor(window[0] / 86_400), np.ceil(window[1] / 86_400)).tolist():
        weekday = int((day + 3) % 7)  # 1970-01-01 was a Thursday
        for _ in range(int(rng.poisson(1.5 if weekday < 5 else 0.2))):
            at = day * 86_400 + 3600 * rng.choice(24, p=HOURLY / HOURLY.sum()) + rng.uniform(0, 3600)
            if not window[0] <= at < window[1]:
                continue
            document = str(rng.choice(catalog.documents)) if catalog.documents else NULL
            stamp = timestamps(np.array([at]))[0]
            for _ in range(int(rng.integers(1, 7))):
                failed = rng.random() < 0.02
                tokens = 0 if failed else int(rng.integers(2_000, 38_000))
                cost = num(cost_usd(prices, OPENAI_EMBEDDING_MODEL, tokens))
                ms = rng.lognormal(np.log(300 + tokens / 40), 0.3)
                outcome = "f\trate_limited" if failed else f"t\t{NULL}"
                lines.append(
                    f"ingest_embedding\topenai\t{OPENAI_EMBEDDING_MODEL}\t{tokens}\t0\t{cost}\t{ms:.1f}\t"
                    f"{outcome}\t{NULL}\t{document}\t{KNOWLEDGE_MANAGER}\tt\t{stamp}"
                )
    copy(cursor, "model_calls", CALL_COLUMNS, lines)
    return len(lines)
