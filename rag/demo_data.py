"""Demo traffic for the analytics pages: realistic, seeded, and labelled so that it can be removed.

Every row written is marked: answers and model calls carry `is_demo`, demo conversations belong
to users named "demo:..." and have titles starting "[demo] ", feedback only rates demo answers.
Rows are simulated in batches with numpy and written with COPY, so 100,000 answers take seconds.
"""

from __future__ import annotations

import io
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.models import Chunk, Document
from rag.analytics.rollups import invalidate_rollups
from rag.answer_text import NOT_KNOWN
from rag.console import Console
from rag.embedding import Embedder
from rag.errors import ModelError
from rag.pricing import cost_usd
from rag.retrieval import format_location
from rag.settings import OPENAI_EMBEDDING_MODEL, Price
from rag.tokens import count_tokens

DEMO_USER_PREFIX = "demo:"
DEMO_TITLE_PREFIX = "[demo] "
AGENTS = ("demo:ana", "demo:ben", "demo:chloe", "demo:dev", "demo:emre", "demo:fatima")
AGENT_SHARES = (0.24, 0.2, 0.18, 0.16, 0.12, 0.1)
KNOWLEDGE_MANAGER = "demo:grace"
# (answer_mode, model) of the chat; the shares drift towards gpt-4o-mini over the period.
MODELS = (("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("offline", "extractive"))
ERRORS = {
    "timeout": "OpenAI did not answer in time; try again, or raise OPENAI_TIMEOUT.",
    "rate_limited": "OpenAI is rate-limiting requests; wait a moment and try again.",
    "server_error": "OpenAI had a server error; try again in a moment.",
}
DOWN_REASONS = ("wrong", "outdated", "missing", "bad_citation")
COMMENTS = ("Customer had a different plan.", "Policy changed last month.", "Cited the wrong section.")
BATCH = 10_000
CANDIDATES = 8  # passages a question variant can cite, best first
SNIPPET_CHARS = 300
CHUNK_POOL = 5_000
# Relative activity by weekday (Monday first) and by hour of the day (UTC).
WEEKDAY = np.array([1.0, 1.0, 0.95, 0.95, 0.85, 0.2, 0.15])
HOURLY = (
    np.array([3, 2, 2, 2, 3, 5, 10, 25, 60, 95, 100, 95, 60, 85, 95, 90, 75, 50, 25, 15, 10, 7, 5, 4]) / 100
)


@dataclass(frozen=True)
class Template:
    topic: str
    document: str  # the title cited when the knowledge base has no documents
    weight: float  # relative popularity
    answer: str | None  # None: the documents do not say (an unanswerable theme)
    variants: tuple[str, ...]


def _t(topic: str, document: str, weight: float, answer: str | None, *variants: str) -> Template:
    return Template(topic, document, weight, answer, variants)


REFUNDS, RETENTION, SIGN_IN, PLANS, VAULT, SYNC = "refunds", "retention", "sign-in", "plans", "vault", "sync"
# fmt: off
TEMPLATES: tuple[Template, ...] = (
    _t(REFUNDS, "Refund policy", 9, "Annual plans get a full refund within 30 days of purchase or renewal.",
       "Can a customer get a full refund on an annual plan?", "annual plan refund within 30 days",
       "Customer bought a yearly plan two weeks ago and wants their money back, is that possible?"),
    _t(REFUNDS, "Refund policy", 6, "After 30 days the refund is (annual price / 12) x unused whole months.",
       "How is a prorated refund calculated after 30 days?", "prorated refund annual plan formula",
       "Customer cancels an annual plan after 4 months, how much do we refund?"),
    _t(REFUNDS, "Refund policy", 5,
       "Monthly plans are not refundable; they stay active until the month ends.",
       "Are monthly plans refundable?", "refund for monthly subscription",
       "Can I refund a customer who cancelled their monthly plan yesterday?"),
    _t(REFUNDS, "Refund policy", 2,
       "Escalate Enterprise refunds to the account manager; the order form rules.",
       "How do I handle a refund request from an Enterprise customer?", "enterprise refund who handles it"),
    _t(RETENTION, "Data retention and deletion", 7, "Deleted items stay in the Trash for 30 days.",
       "How long do deleted files stay in the Trash?", "restore a file deleted last week",
       "Customer emptied a folder by mistake, can we get it back?"),
    _t(RETENTION, "Data retention and deletion", 4, "Version history length depends on the plan.",
       "How many days of version history does each plan keep?", "version history retention per plan"),
    _t(RETENTION, "Data retention and deletion", 2, "Admins place holds from Admin Console > Compliance.",
       "How does legal hold work?", "put a user on legal hold"),
    _t(RETENTION, "Data retention and deletion", 3,
       "Closed accounts' data is deleted after the grace period.",
       "What happens to the data when an account is closed?", "account closure data deletion timeline"),
    _t(RETENTION, "Data retention and deletion", 3,
       "Customers export everything from Admin Console > Export.",
       "How can a customer export all their data?", "export workspace data before cancelling"),
    _t(SIGN_IN, "Password reset and 2FA", 8, "The reset link is valid for 30 minutes and works once.",
       "How long is a password reset link valid?", "reset link expired what now",
       "User says the password reset link doesn't work"),
    _t(SIGN_IN, "Password reset and 2FA", 5, "Check spam and search for no-reply@northwindcloud.example.",
       "The password reset email never arrived, what should the user do?", "no reset email received"),
    _t(SIGN_IN, "Password reset and 2FA", 6, "After 5 failed attempts the account locks for 15 minutes.",
       "Why is the account locked after failed sign-ins?", "account locked too many attempts",
       "How long does an account lockout last?"),
    _t(SIGN_IN, "Password reset and 2FA", 4, "Account settings > Security > Two-factor authentication.",
       "How do I turn on two-factor authentication?", "set up 2FA with an authenticator app"),
    _t(SIGN_IN, "Password reset and 2FA", 4, "Use one of the 10 recovery codes, or regenerate them.",
       "User lost their phone and can't pass 2FA", "lost recovery codes 2FA"),
    _t(SIGN_IN, "Password reset and 2FA", 2, "Run the Owner identity verification process (2 business days).",
       "The workspace owner is locked out of 2FA with no recovery codes", "owner lost 2FA device"),
    _t(PLANS, "Pricing plans", 6, "Team costs $39 a month or $390 a year.",
       "How much does the Team plan cost?", "team plan price per month",
       "What is the yearly price of the Team plan?"),
    _t(PLANS, "Pricing plans", 4, "Storage per user grows with the plan; see the pricing table.",
       "How much storage does each plan include?", "storage limit business plan"),
    _t(PLANS, "Pricing plans", 3, "Business gets a 4-hour response on weekdays by email, chat and phone.",
       "What support response time does the Business plan get?", "support hours per plan"),
    _t(PLANS, "Service level agreement", 3, "The SLA promises monthly uptime with service credits below it.",
       "What uptime does the SLA guarantee?", "SLA uptime percentage"),
    _t(PLANS, "Service level agreement", 2, "Credits are requested within 30 days of the incident.",
       "How does a customer claim a service credit after an outage?", "service credit request outage"),
    _t(VAULT, "Vault appliance: shipping and returns", 3,
       "EU deliveries take 3-5 business days from Rotterdam.",
       "How long does shipping of a Vault take to Germany?", "vault delivery time EU"),
    _t(VAULT, "Vault appliance: shipping and returns", 2,
       "Returns within 14 days of delivery with an RMA number.",
       "How does a customer return a Vault appliance?", "vault return RMA"),
    _t(VAULT, "Vault appliance: shipping and returns", 2, "The V2-4 costs $649 and the V2-12 $1,490.",
       "How much does the Vault backup appliance cost?", "vault price V2-12"),
    _t(SYNC, "Troubleshooting the sync client", 5, "NW-101 means the storage quota is used up.",
       "What does error NW-101 mean?", "sync error storage quota exceeded"),
    _t(SYNC, "Troubleshooting the sync client", 4, "NW-204: another program locks the file; close it.",
       "Sync shows NW-204 file locked", "excel file not syncing locked"),
    _t(SYNC, "Troubleshooting the sync client", 3, "NW-309: the Windows path is longer than 260 characters.",
       "Why are some files skipped with NW-309?", "path too long sync windows"),
    _t(SYNC, "Troubleshooting the sync client", 3,
       "NW-412: the session expired; sign in to the client again.",
       "Sync client says session expired NW-412", "NW-412 how to fix"),
    _t(SIGN_IN, "Password reset and 2FA", 3, None,
       "Do we support SCIM provisioning with Okta?", "okta scim user provisioning",
       "Can users be provisioned automatically from Okta?"),
    _t(PLANS, "Pricing plans", 2, None,
       "Is there a discount for nonprofits?", "nonprofit or education discount"),
    _t(SYNC, "Troubleshooting the sync client", 2, None,
       "Is there a sync client for Linux?", "linux desktop client support"),
    _t(PLANS, "Service level agreement", 2, None,
       "Can customers pay in Japanese yen?", "invoice currency JPY"),
    _t(RETENTION, "Data retention and deletion", 1.5, None,
       "Will we sign a HIPAA business associate agreement?", "HIPAA BAA"),
)
# fmt: on

NULL = "\\N"  # COPY's NULL
QUERY_CALL = f"query_embedding\topenai\t{OPENAI_EMBEDDING_MODEL}"
# fmt: off
ANSWER_COLUMNS = (
    "id", "conversation_id", "knowledge_base_id", "question", "answer", "answered", "incomplete",
    "best_score", "answer_mode", "model", "embedding_model", "tokens_in", "tokens_out", "cost_usd",
    "embed_ms", "retrieve_ms", "generate_ms", "first_token_ms", "total_ms", "cache_hit", "error_code",
    "error", "user_name", "is_demo", "created_at",
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

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class DemoSummary:
    answers: int
    conversations: int
    sources: int
    model_calls: int
    feedback: int
    already_there: int  # demo answers before this run
    seed: int
    seconds: float


@dataclass(frozen=True)
class RemovedRows:
    answers: int
    sources: int
    feedback: int
    model_calls: int
    conversations: int


@dataclass(frozen=True)
class _Catalog:
    """What a simulated question can be: templates, their variants and the passages each cites."""

    weights: Floats
    answerable: Bools
    topic_members: Ints  # per template: its topic's templates, padded
    topic_sizes: Ints
    first_variant: Ints
    variant_counts: Ints
    variant_tokens: Ints
    questions: list[str]  # per variant, COPY-escaped
    titles: list[str]  # per variant, the conversation title it opens, COPY-escaped
    answers: list[list[str]]  # per template, the answer citing 1, 2 or 3 sources, COPY-escaped
    sources: list[list[str]]  # per variant, best first: chunk, document, title, location, snippet
    documents: list[int]  # real document ids, for the ingestion calls


def generate_demo_data(
    console: Console,
    *,
    days: int,
    answers: int,
    seed: int | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Add `answers` demo answers spread over the `days` before `now`, all in one transaction."""
    if days < 1 or answers < 1:
        raise ValueError("days and answers must be at least 1")
    started = time.perf_counter()
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    rng = np.random.default_rng(seed)
    end = (now or datetime.now(UTC)).timestamp()
    window = (end - days * 86_400, end)
    vectors = _embed_variants(console.embedder)
    with console.engine.begin() as conn:
        already: int = conn.execute(sa.text("SELECT count(*) FROM answers WHERE is_demo")).scalar_one()
        catalog = _catalog(conn, console, vectors, rng)
        driver = conn.connection.driver_connection
        assert driver is not None  # an open connection always has one
        cursor = driver.cursor()
        _prepare(cursor, vectors)
        totals = np.zeros(5, dtype=np.int64)
        while totals[0] < answers:
            n = min(BATCH, answers - int(totals[0]))
            totals += _write_batch(cursor, rng, n, window, catalog, console)
            if progress:
                progress(int(totals[0]), answers)
        totals[3] += _write_ingest_calls(cursor, rng, window, catalog, console.settings.prices)
        invalidate_rollups(conn, demo=True)  # past days changed
    a, c, s, m, f = (int(x) for x in totals)
    return DemoSummary(a, c, s, m, f, already, seed, time.perf_counter() - started)


def remove_demo_data(engine: Engine) -> RemovedRows:
    """Delete every demo row in one transaction; real rows are never touched."""
    demo_answers = "SELECT id FROM answers WHERE is_demo"
    with engine.begin() as conn:

        def delete(sql: str) -> int:
            return int(conn.execute(sa.text(sql)).rowcount)

        # Children first: one join instead of a cascade row by row.
        feedback = delete(f"DELETE FROM feedback WHERE answer_id IN ({demo_answers})")
        sources = delete(f"DELETE FROM answer_sources WHERE answer_id IN ({demo_answers})")
        calls = delete("DELETE FROM model_calls WHERE is_demo")
        answers = delete("DELETE FROM answers WHERE is_demo")
        conversations = delete(
            "DELETE FROM conversations c WHERE c.user_name LIKE 'demo:%' AND c.title LIKE '[demo] %' "
            "AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.conversation_id = c.id)"
        )
        invalidate_rollups(conn, demo=True)
    return RemovedRows(answers, sources, feedback, calls, conversations)


def _variants() -> list[str]:
    return [v for t in TEMPLATES for v in t.variants]


def _embed_variants(embedder: Embedder) -> npt.NDArray[np.float32] | None:
    """One vector per question variant, stored with every use of it so that grouping finds them."""
    try:
        return embedder.embed(_variants()).vectors
    except ModelError:
        return None  # question_embedding stays NULL


def _catalog(
    conn: Connection, console: Console, vectors: npt.NDArray[np.float32] | None, rng: np.random.Generator
) -> _Catalog:
    topics = sorted({t.topic for t in TEMPLATES})
    members = [[i for i, t in enumerate(TEMPLATES) if t.topic == topic] for topic in topics]
    width = max(len(m) for m in members)
    padded = np.array([m + [m[0]] * (width - len(m)) for m in members], dtype=np.int64)
    topic_of = np.array([topics.index(t.topic) for t in TEMPLATES])
    counts = np.array([len(t.variants) for t in TEMPLATES], dtype=np.int64)
    variants = _variants()
    template_of = np.repeat(np.arange(len(TEMPLATES)), counts)
    sources, documents = _source_candidates(conn, console, vectors, template_of, rng)
    return _Catalog(
        weights=np.array([t.weight for t in TEMPLATES]) / sum(t.weight for t in TEMPLATES),
        answerable=np.array([t.answer is not None for t in TEMPLATES]),
        topic_members=padded[topic_of],
        topic_sizes=np.array([len(m) for m in members], dtype=np.int64)[topic_of],
        first_variant=np.cumsum(counts) - counts,
        variant_counts=counts,
        variant_tokens=np.array([count_tokens(v) for v in variants], dtype=np.int64),
        questions=[_esc(v) for v in variants],
        titles=[_esc(DEMO_TITLE_PREFIX + v[:110]) for v in variants],
        answers=[
            [
                _esc(f"{t.answer or NOT_KNOWN} " + "".join(f"[{k}]" for k in range(1, c + 1)))
                for c in (1, 2, 3)
            ]
            for t in TEMPLATES
        ],
        sources=sources,
        documents=documents,
    )


def _source_candidates(
    conn: Connection,
    console: Console,
    vectors: npt.NDArray[np.float32] | None,
    template_of: Ints,
    rng: np.random.Generator,
) -> tuple[list[list[str]], list[int]]:
    """Per variant, the passages it retrieves: the knowledge base's nearest chunks if it has any."""
    rows = conn.execute(
        sa.select(
            Chunk.id,
            Chunk.document_id,
            Document.title,
            Chunk.page_start,
            Chunk.page_end,
            Chunk.heading,
            sa.func.left(Chunk.text, SNIPPET_CHARS).label("snippet"),
            Chunk.embedding,
        )
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.knowledge_base_id == console.kb.id)
        .order_by(Chunk.id)
        .limit(CHUNK_POOL)
    ).all()
    if not rows:
        return [_fabricated(TEMPLATES[t], rng) for t in template_of.tolist()], []
    fields = [
        "\t".join(
            (
                str(r.id),
                str(r.document_id),
                _esc(r.title),
                _esc(format_location(r.page_start, r.page_end, None if r.heading == r.title else r.heading)),
                _esc(r.snippet),
            )
        )
        for r in rows
    ]
    if vectors is not None and len(rows[0].embedding) == vectors.shape[1]:
        similarity = vectors @ np.array([r.embedding for r in rows], dtype=np.float32).T
        ranked = np.argsort(-similarity, axis=1)
    else:
        ranked = np.array([rng.permutation(len(rows)) for _ in TEMPLATES])[template_of]
    picks = ranked[:, :CANDIDATES].tolist()
    return [[fields[i] for i in p] for p in picks], sorted({r.document_id for r in rows})


def _fabricated(template: Template, rng: np.random.Generator) -> list[str]:
    others = sorted({t.document for t in TEMPLATES} - {template.document})
    snippet = _esc(template.answer or f"See the {template.document.lower()} for details.")
    out = []
    for rank in range(CANDIDATES):
        title = template.document if rank < 3 else others[int(rng.integers(len(others)))]
        out.append(f"{NULL}\t{NULL}\t{_esc(title)}\tsection {int(rng.integers(1, 9))}\t{snippet}")
    return out


def _prepare(cursor: Any, vectors: npt.NDArray[np.float32] | None) -> None:
    cursor.execute(
        "CREATE TEMP TABLE demo_question_vectors (variant integer PRIMARY KEY, embedding vector) "
        "ON COMMIT DROP; "
        "CREATE TEMP TABLE demo_answers_stage (LIKE answers) ON COMMIT DROP; "
        "ALTER TABLE demo_answers_stage ADD COLUMN variant integer"
    )
    if vectors is not None:
        lines = [f"{i}\t[{','.join(f'{x:.7g}' for x in v)}]" for i, v in enumerate(vectors.tolist())]
        _copy(cursor, "demo_question_vectors", ("variant", "embedding"), lines)


def _write_batch(
    cursor: Any,
    rng: np.random.Generator,
    n: int,
    window: tuple[float, float],
    catalog: _Catalog,
    console: Console,
) -> Ints:
    """Simulate and write `n` answers; return counts of answers, conversations, sources, calls, feedback."""
    s = _simulate(rng, n, window, catalog)
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence('answers', 'id')) FROM generate_series(1, %s)", (n,)
    )
    ids = [str(row[0]) for row in cursor.fetchall()]
    conversations = [str(uuid.uuid4()) for _ in s.agent.tolist()]
    agents = [AGENTS[a] for a in s.agent.tolist()]
    openers = s.variant[s.first_of_conversation].tolist()
    starts = _stamps(s.created[s.first_of_conversation])
    _copy(
        cursor,
        "conversations",
        ("id", "user_name", "title", "created_at"),
        [
            f"{c}\t{a}\t{catalog.titles[v]}\t{t}"
            for c, a, v, t in zip(conversations, agents, openers, starts, strict=True)
        ],
    )
    stamps = _stamps(s.created)
    users = [agents[c] for c in s.conversation.tolist()]
    costs, calls = _answer_calls(s, ids, users, stamps, console.settings.prices)
    columns = [
        ids,
        [conversations[c] for c in s.conversation.tolist()],
        [str(console.kb.id)] * n,
        [catalog.questions[v] for v in s.variant.tolist()],
        _answer_texts(s, catalog),
        _flags(s.answered),
        ["f"] * n,
        _fixed(s.best_score, 4),
        [MODELS[m][0] for m in s.model.tolist()],
        [MODELS[m][1] for m in s.model.tolist()],
        [OPENAI_EMBEDDING_MODEL] * n,
        [str(x) for x in s.tokens_in.tolist()],
        [str(x) for x in s.tokens_out.tolist()],
        [_num(c) for c in costs],
        _fixed(s.embed_ms, 2),
        _fixed(s.retrieve_ms, 2),
        _fixed(s.generate_ms, 1, where=s.generated),
        _fixed(s.first_token_ms, 1, where=s.generated),
        _fixed(s.total_ms, 1),
        ["f"] * n,
        [e or NULL for e in s.error.tolist()],
        [ERRORS[e] if e else NULL for e in s.error.tolist()],
        users,
        ["t"] * n,
        stamps,
        [str(v) for v in s.variant.tolist()],
    ]
    _copy(
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
    _copy(cursor, "answer_sources", SOURCE_COLUMNS, sources)
    _copy(cursor, "model_calls", CALL_COLUMNS, calls)
    feedback = _feedback_lines(rng, s, ids, users)
    _copy(cursor, "feedback", FEEDBACK_COLUMNS, feedback)
    return np.array([n, len(conversations), len(sources), len(calls), len(feedback)], dtype=np.int64)


def _answer_calls(
    s: _Traffic, ids: list[str], users: list[str], stamps: list[str], prices: dict[str, Price]
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
        lines.append(f"{QUERY_CALL}\t{embed_tokens}\t0\t{_num(cost)}\t{embed_ms:.1f}\tt\t{NULL}{tail}")
        if chat:
            mode, name = MODELS[model]
            chat_cost = cost_usd(prices, name, tokens_in, tokens_out)
            cost = None if cost is None or chat_cost is None else cost + chat_cost
            outcome = f"f\t{error}" if error else f"t\t{NULL}"
            lines.append(
                f"chat\t{mode}\t{name}\t{tokens_in}\t{tokens_out}\t{_num(chat_cost)}\t{chat_ms:.1f}\t{outcome}{tail}"
            )
        costs.append(cost)
    return costs, lines


def _answer_texts(s: _Traffic, catalog: _Catalog) -> list[str]:
    not_known = _esc(NOT_KNOWN)
    return [
        catalog.answers[t][c - 1] if answered else ("" if error else not_known)
        for t, c, answered, error in zip(
            s.template.tolist(), s.cited.tolist(), s.answered.tolist(), s.error.tolist(), strict=True
        )
    ]


def _source_lines(s: _Traffic, ids: list[str], catalog: _Catalog) -> list[str]:
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


def _feedback_lines(rng: np.random.Generator, s: _Traffic, ids: list[str], users: list[str]) -> list[str]:
    """A thumbs up or down on about a quarter of the answers; downs say why, a few add a comment."""
    n = len(ids)
    rated = (s.error == "") & (rng.random(n) < 0.25)
    up = rng.random(n) < np.where(s.answered, np.where(s.best_score < 0.48, 0.6, 0.86), 0.12)
    reason = rng.choice(len(DOWN_REASONS), n, p=[0.35, 0.25, 0.15, 0.25]).tolist()
    comment = rng.choice(len(COMMENTS), n).tolist()
    commented = (rng.random(n) < 0.15).tolist()
    stamps = _stamps(s.created + rng.uniform(5, 240, n))
    lines = []
    for i in np.flatnonzero(rated).tolist():
        if up[i]:
            lines.append(f"{ids[i]}\t1\t{NULL}\t{NULL}\t{users[i]}\t{stamps[i]}")
            continue
        why = DOWN_REASONS[reason[i]] if s.answered[i] else "missing"
        note = _esc(COMMENTS[comment[i]]) if commented[i] else NULL
        lines.append(f"{ids[i]}\t-1\t{why}\t{note}\t{users[i]}\t{stamps[i]}")
    return lines


def _write_ingest_calls(
    cursor: Any,
    rng: np.random.Generator,
    window: tuple[float, float],
    catalog: _Catalog,
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
            stamp = _stamps(np.array([at]))[0]
            for _ in range(int(rng.integers(1, 7))):
                failed = rng.random() < 0.02
                tokens = 0 if failed else int(rng.integers(2_000, 38_000))
                cost = _num(cost_usd(prices, OPENAI_EMBEDDING_MODEL, tokens))
                ms = rng.lognormal(np.log(300 + tokens / 40), 0.3)
                outcome = "f\trate_limited" if failed else f"t\t{NULL}"
                lines.append(
                    f"ingest_embedding\topenai\t{OPENAI_EMBEDDING_MODEL}\t{tokens}\t0\t{cost}\t{ms:.1f}\t"
                    f"{outcome}\t{NULL}\t{document}\t{KNOWLEDGE_MANAGER}\tt\t{stamp}"
                )
    _copy(cursor, "model_calls", CALL_COLUMNS, lines)
    return len(lines)


@dataclass(frozen=True)
class _Traffic:
    """One batch of simulated exchanges as arrays: one entry per answer unless the name says otherwise."""

    agent: Ints  # per conversation
    first_of_conversation: Ints  # per conversation: the index of its first answer
    conversation: Ints
    created: Floats  # epoch seconds
    template: Ints
    variant: Ints
    model: Ints  # index into MODELS
    error: npt.NDArray[np.str_]  # "" when none
    answered: Bools
    chat: Bools  # a chat call was made
    generated: Bools  # the chat call streamed an answer
    best_score: Floats
    scores: Floats  # (n, 5), best first
    source_count: Ints
    cited: Ints  # sources 1..cited are cited
    embed_tokens: Ints
    tokens_in: Ints
    tokens_out: Ints
    embed_ms: Floats
    retrieve_ms: Floats
    generate_ms: Floats
    first_token_ms: Floats
    chat_ms: Floats  # how long the chat call took, failed or not
    total_ms: Floats


def _simulate(rng: np.random.Generator, n: int, window: tuple[float, float], c: _Catalog) -> _Traffic:
    sizes = _conversation_sizes(rng, n)
    first = np.cumsum(sizes) - sizes
    conversation = np.repeat(np.arange(len(sizes)), sizes)
    position = np.arange(n) - first[conversation]
    # Conversations last under 15 minutes: starting 20 minutes before the end keeps them in the past.
    start = _rhythm_times(rng, len(sizes), (window[0], window[1] - 1200))
    gaps = np.where(position == 0, 0.0, np.clip(rng.lognormal(np.log(90), 0.6, n), 15, 300))
    elapsed = np.cumsum(gaps)
    created = start[conversation] + elapsed - elapsed[first][conversation]

    # Follow-ups mostly stay on the opening question's topic.
    opening = rng.choice(len(c.weights), len(sizes), p=c.weights)[conversation]
    related = c.topic_members[opening, (rng.random(n) * c.topic_sizes[opening]).astype(np.int64)]
    unrelated = rng.choice(len(c.weights), n, p=c.weights)
    template = np.where(position == 0, opening, np.where(rng.random(n) < 0.6, related, unrelated))
    variant = c.first_variant[template] + (rng.random(n) * c.variant_counts[template]).astype(np.int64)

    # The team moves traffic to the cheaper model over the period.
    u = rng.random(n)
    mini_share = 0.12 + 0.18 * (created - window[0]) / (window[1] - window[0])
    model = np.where(u < 0.08, 2, np.where(u < 0.08 + mini_share, 1, 0))
    extractive = model == 2
    failed = ~extractive & (rng.random(n) < 0.035)
    error = np.where(failed, rng.choice(list(ERRORS), n, p=[0.4, 0.35, 0.25]), "")
    not_known = ~failed & (~c.answerable[template] | (rng.random(n) < 0.035))
    declined = not_known & (rng.random(n) < 0.25)  # passages were relevant, the model still said no
    answered = ~failed & ~not_known
    chat = answered | declined | failed

    best = 0.42 + 0.5 * rng.beta(5, 3, n)
    best = np.where(answered & (rng.random(n) < 0.1), rng.uniform(0.40, 0.48, n), best)
    best = np.where(
        declined, rng.uniform(0.40, 0.50, n), np.where(not_known, rng.uniform(0.12, 0.39, n), best)
    )
    drops = np.abs(rng.normal(0.035, 0.02, (n, 5)))
    drops[:, 0] = 0
    source_count = rng.choice([1, 2, 3, 4, 5], n, p=[0.04, 0.05, 0.06, 0.1, 0.75])
    source_count = np.minimum(source_count, min(len(s) for s in c.sources))
    cited = np.where(answered, np.minimum(rng.choice([1, 2, 3], n, p=[0.5, 0.35, 0.15]), source_count), 0)

    # A follow-up is embedded twice: alone and after the previous question.
    previous = np.where(position > 0, np.roll(variant, 1), variant)
    embed_tokens = c.variant_tokens[variant] + np.where(
        position > 0, c.variant_tokens[variant] + c.variant_tokens[previous] + 1, 0
    )
    generated = chat & ~failed
    prompt = np.clip(rng.normal(2900, 450, n), 800, None) + 180 * np.minimum(position, 3)
    tokens_in = np.where(extractive, rng.lognormal(np.log(420), 0.3, n), prompt)
    reply = np.where(extractive, rng.lognormal(np.log(90), 0.4, n), rng.lognormal(np.log(170), 0.45, n))
    tokens_out = np.where(declined, rng.integers(11, 16, n), np.clip(reply, 20, 700))

    generate_ms = rng.lognormal(np.log(np.array([3000.0, 1700.0, 35.0])[model]), 0.45)
    generate_ms = np.clip(np.where(declined, generate_ms * 0.35, generate_ms), 5, 25_000)
    first_token_ms = np.minimum(rng.lognormal(np.log(np.array([520.0, 380.0, 6.0])[model]), 0.3), generate_ms)
    fail_ms = np.select(
        [error == "timeout", error == "rate_limited"],
        [30_000 + rng.uniform(0, 900, n), rng.lognormal(np.log(2500), 0.5, n)],
        rng.lognormal(np.log(1500), 0.6, n),
    )
    chat_ms = np.where(failed, fail_ms, np.where(generated, generate_ms, 0.0))
    embed_ms = np.clip(rng.lognormal(np.log(38), 0.35, n), 8, 800)
    retrieve_ms = np.clip(rng.lognormal(np.log(20), 0.35, n), 4, 500)
    overhead = rng.lognormal(np.log(35), 0.4, n)
    return _Traffic(
        agent=rng.choice(len(AGENTS), len(sizes), p=AGENT_SHARES),
        first_of_conversation=first,
        conversation=conversation,
        created=created,
        template=template,
        variant=variant,
        model=model,
        error=error,
        answered=answered,
        chat=chat,
        generated=generated,
        best_score=best,
        scores=best[:, None] - np.cumsum(drops, axis=1),
        source_count=source_count,
        cited=cited,
        embed_tokens=embed_tokens,
        tokens_in=np.where(generated, tokens_in, 0).astype(np.int64),
        tokens_out=np.where(generated, tokens_out, 0).astype(np.int64),
        embed_ms=embed_ms,
        retrieve_ms=retrieve_ms,
        generate_ms=generate_ms,
        first_token_ms=first_token_ms,
        chat_ms=chat_ms,
        total_ms=embed_ms + retrieve_ms + chat_ms + overhead,
    )


def _conversation_sizes(rng: np.random.Generator, n: int) -> Ints:
    """Conversations of 1-4 questions adding up to exactly n."""
    sizes = rng.choice([1, 2, 3, 4], n, p=[0.45, 0.3, 0.15, 0.1])  # n of them add up to n or more
    total = np.cumsum(sizes)
    last = int(np.searchsorted(total, n))
    sizes = sizes[: last + 1].copy()
    sizes[-1] -= int(total[last]) - n
    return sizes.astype(np.int64)


def _rhythm_times(rng: np.random.Generator, count: int, window: tuple[float, float]) -> Floats:
    """Epoch seconds in the window: busier on weekdays, in office hours and towards the end."""
    found: list[Floats] = []
    needed = count
    while needed > 0:
        t = rng.uniform(window[0], window[1], needed * 5 + 16)
        day = np.floor(t / 86_400)
        weight = WEEKDAY[((day + 3) % 7).astype(np.int64)] * HOURLY[((t % 86_400) // 3600).astype(np.int64)]
        weight *= 0.8 + 0.2 * (t - window[0]) / (window[1] - window[0])
        kept = t[rng.random(len(t)) < weight][:needed]
        found.append(kept)
        needed -= len(kept)
    return np.concatenate(found)


def _copy(cursor: Any, table: str, columns: tuple[str, ...], lines: list[str]) -> None:
    if lines:
        data = io.StringIO("\n".join(lines) + "\n")
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", data)


def _stamps(epoch_s: Floats) -> list[str]:
    micros = (epoch_s * 1e6).astype(np.int64).astype("datetime64[us]")
    stamps: list[str] = np.datetime_as_string(micros, unit="ms", timezone="UTC").tolist()
    return stamps


def _fixed(values: Floats, digits: int, *, where: Bools | None = None) -> list[str]:
    texts = [f"{x:.{digits}f}" for x in values.tolist()]
    if where is not None:
        texts = [t if keep else NULL for t, keep in zip(texts, where.tolist(), strict=True)]
    return texts


def _flags(values: Bools) -> list[str]:
    return ["t" if v else "f" for v in values.tolist()]


def _esc(text: str) -> str:
    """A value for COPY's text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _num(value: Decimal | None) -> str:
    return NULL if value is None else str(value)
