"""Analytics queries against a small, known log: every figure is computed by hand in the comments.

The period is 10-12 March 2026 (UTC). 11 March has no question; rows the day before and the day
after, and demo rows, must stay out of it.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Answer, AnswerSource, Conversation, Document, Feedback, KnowledgeBase, ModelCall
from rag.analytics import (
    PARTS,
    STAGES,
    Overview,
    Period,
    cost_by_day,
    cost_per_answer_by_day,
    cost_totals,
    errors_by_day,
    invalidate_rollups,
    latency_by_day,
    latency_histogram,
    most_cited_documents,
    never_cited_documents,
    overview,
    questions_by_day,
    slowest_answers,
    stage_time,
    stage_time_by_day,
    total_percentiles,
)
from rag.analytics.cost import cost_per_document
from rag.analytics.people import questions_by_person
from rag.analytics.unanswered import unanswered_groups
from tests.conftest import ConsoleFactory

PERIOD = Period(date(2026, 3, 10), date(2026, 3, 12))
DEMO = Period(date(2026, 3, 10), date(2026, 3, 12), demo=True)
D10, D11, D12 = date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12)


def at(day: int, hour: int, minute: int = 0, second: int = 0, tz: timezone = UTC) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=tz)


MOSCOW = timezone(timedelta(hours=3))

# The log. Documents: key, title, knowledge base ("own" or "other"), uploaded.
DOCUMENTS = [
    ("refund", "Refund policy", "own", at(1, 9)),
    ("shipping", "Shipping times", "own", at(1, 9)),
    ("security", "Security", "own", at(2, 9)),
    ("warranty", "Warranty", "own", at(3, 9)),
    ("future", "Future plans", "own", at(20, 9)),  # uploaded after the period
    ("elsewhere", "Elsewhere", "other", at(1, 9)),  # another knowledge base
]
# key, created_at, conversation, answered, cost,
# (embed, cache, retrieve, generate, log, first text, total), error, demo
ANSWERS = [
    ("prev", at(9, 23, 59, 59), "c1", True, "0.005", (1, 1, 1, 1, 1, 1, 50), None, False),
    ("a1", at(10, 9), "c1", True, "0.011", (10, 2, 20, 60, 3, 30, 100), None, False),
    ("a2", at(10, 10), "c1", True, "0.020", (20, 4, 40, 120, 6, 60, 200), None, False),
    # 01:30 in Moscow is 22:30 UTC the day before: it belongs to 10 March.
    ("a3", at(11, 1, 30, tz=MOSCOW), "c2", False, None, (30, None, 60, None, 5, None, 300), None, False),
    ("a4", at(10, 23), "c2", False, "0.030", (40, 8, 80, 250, None, None, 400), "timeout", False),
    ("a5", at(12, 8), "c3", True, "0.050", (5, 1, 10, 900, 4, 100, 1000), None, False),
    (
        "a6",
        at(12, 23, 59, 59),
        "c3",
        False,
        "0.010",
        (7, None, None, None, None, None, None),
        "rate_limited",
        False,
    ),
    ("after", at(13, 0), "c1", True, "0.500", (1, 1, 1, 1, 1, 1, 9999), "timeout", False),
    ("d1", at(11, 12), "demo", True, "1.000", (1, 1, 1, 1, 1, 1, 5000), "server_error", True),
    ("d2", at(11, 13), "demo", False, None, (1, 1, 1, 1, 1, 1, 7000), None, True),
]
# answer, number, document (None: deleted since), title as the answer recorded it, cited
SOURCES = [
    ("a1", 1, "refund", "Refund policy (old title)", True),
    ("a1", 2, "shipping", "Shipping times", False),
    ("a2", 1, "refund", "Refund policy", True),
    ("a2", 2, "refund", "Refund policy", True),  # the same document twice: still one answer citing it
    ("a2", 3, "security", "Security", False),
    ("a3", 1, "security", "Security", False),
    ("a5", 1, "shipping", "Shipping times", True),
    ("a5", 2, None, "Old pricing", True),
    ("prev", 1, "security", "Security", True),
    ("after", 1, "warranty", "Warranty", True),
    ("d1", 1, "security", "Security", True),
]
FEEDBACK = [
    ("a1", "ana", 1),
    ("a1", "bo", 1),
    ("a2", "ana", -1),
    ("a5", "ana", 1),
    ("prev", "ana", -1),
    ("after", "ana", -1),
    ("d1", "ana", -1),
]
# created_at, purpose, model, tokens in, tokens out, cost (None: unpriced), demo; ingestion calls
# name their document (None: deleted since, or never stored)
CALLS = [
    (at(8, 12), "chat", "gpt-4o", 1000, 100, "0.040", False),
    (at(9, 12), "query_embedding", "text-embedding-3-small", 10, 0, "0.010", False),
    (at(10, 9), "chat", "gpt-4o", 1000, 200, "0.010", False),
    (at(10, 9), "query_embedding", "text-embedding-3-small", 20, 0, "0.001", False),
    (at(10, 10), "chat", "gpt-4o", 2000, 300, "0.020", False),
    (at(10, 22, 30), "chat", "mystery-model", 1500, 100, None, False),
    (at(10, 23), "chat", "gpt-4o", 3000, 0, "0.030", False),
    (at(11, 3), "ingest_embedding", "text-embedding-3-small", 200_000, 0, "0.004", False, "refund"),
    (at(11, 4), "ingest_embedding", "text-embedding-3-small", 100_000, 0, "0.002", False, None),
    (at(13, 4), "ingest_embedding", "text-embedding-3-small", 50_000, 0, "0.001", False, "refund"),
    (at(12, 8), "chat", "gpt-4o", 4000, 500, "0.050", False),
    (at(12, 23, 59, 59), "chat", "gpt-4o", 1000, 0, "0.010", False),
    (at(13, 0), "chat", "gpt-4o", 9000, 900, "0.500", False),
    (at(11, 12), "chat", "gpt-4o", 7, 7, "1.000", True),
    (at(11, 13), "chat", "demo-model", 7, 7, None, True),
]


@dataclass
class Log:
    engine: Engine
    kb_id: int
    docs: dict[str, int]


@pytest.fixture
def log(make_console: ConsoleFactory) -> Log:
    console = make_console()
    with console.engine.begin() as conn:
        kbs = {"own": console.kb.id, "other": _insert(conn, KnowledgeBase, **OTHER_KB)}
        docs = {
            key: _insert(conn, Document, **DOC_DEFAULTS, knowledge_base_id=kbs[kb], title=title,
                         filename=f"{key}.md", content_hash=key, created_at=created)
            for key, title, kb, created in DOCUMENTS
        }  # fmt: skip
        conversations = {key: uuid.uuid4() for key in ("c1", "c2", "c3", "demo")}
        conn.execute(
            sa.insert(Conversation),
            [{"id": c, "user_name": "ana", "title": "t"} for c in conversations.values()],
        )
        answers = {
            key: _insert(conn, Answer, **ANSWER_DEFAULTS, knowledge_base_id=kbs["own"], question=f"question {key}",
                         conversation_id=conversations[c], answered=answered, cost_usd=_money(cost),
                         embed_ms=ms[0], cache_ms=ms[1], retrieve_ms=ms[2], generate_ms=ms[3], log_ms=ms[4],
                         first_token_ms=ms[5], total_ms=ms[6], error_code=error, is_demo=demo,
                         state="failed" if error else "done", created_at=created)
            for key, created, c, answered, cost, ms, error, demo in ANSWERS
        }  # fmt: skip
        conn.execute(sa.insert(AnswerSource), [
            {"answer_id": answers[a], "number": n, "document_id": doc and docs[doc], "document_title": title,
             "location": "p. 1", "snippet": "...", "score": 0.5, "cited": cited}
            for a, n, doc, title, cited in SOURCES
        ])  # fmt: skip
        conn.execute(
            sa.insert(Feedback),
            [{"answer_id": answers[a], "user_name": u, "rating": r} for a, u, r in FEEDBACK],
        )
        conn.execute(sa.insert(ModelCall), [
            {"created_at": created, "purpose": purpose, "provider": "openai", "model": model, "tokens_in": t_in,
             "tokens_out": t_out, "cost_usd": _money(cost), "duration_ms": 5.0, "ok": True, "user_name": "ana",
             "is_demo": demo, "document_id": docs[doc[0]] if doc and doc[0] else None}
            for created, purpose, model, t_in, t_out, cost, demo, *doc in CALLS
        ])  # fmt: skip
    return Log(console.engine, console.kb.id, docs)


OTHER_KB = {"name": "other", "embedding_provider": "x", "embedding_model": "x", "embedding_dimensions": 3}
DOC_DEFAULTS = {"kind": "markdown", "size_bytes": 10, "chunk_count": 1, "token_count": 5, "uploaded_by": "km"}
ANSWER_DEFAULTS = {
    "answer": "...",
    "answer_mode": "offline",
    "model": "gpt-4o",
    "embedding_model": "hash-64",
    "user_name": "ana",
}


def _insert(conn: sa.Connection, table: Any, **values: Any) -> int:
    return int(conn.execute(sa.insert(table).values(**values).returning(table.id)).scalar_one())


def _money(dollars: str | None) -> Decimal | None:
    return None if dollars is None else Decimal(dollars)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts, every kind of missing value (NaN, pd.NA) as None."""
    return [
        {
            str(k): (None if v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v)
            for k, v in row.items()
        }
        for row in frame.to_dict("records")
    ]


# Period


def test_a_period_knows_the_one_before_it_and_the_last_days() -> None:
    assert PERIOD.previous() == Period(date(2026, 3, 7), date(2026, 3, 9))
    assert DEMO.previous().demo is True
    assert Period.last_days(7, today=date(2026, 3, 1)) == Period(date(2026, 2, 23), date(2026, 3, 1))
    assert Period.last_days(1, today=D10, demo=True) == Period(D10, D10, demo=True)
    assert PERIOD.ends_before == datetime(2026, 3, 13, tzinfo=UTC)
    with pytest.raises(ValueError, match="at least one day"):
        Period.last_days(0)
    with pytest.raises(ValueError, match="before it starts"):
        Period(D12, D10)


# Cost


def test_cost_by_day_splits_by_model_and_purpose_and_flags_unknown_prices(log: Log) -> None:
    assert records(cost_by_day(log.engine, PERIOD)) == [
        {
            "day": D10,
            "model": "gpt-4o",
            "purpose": "chat",
            "calls": 3,
            "tokens_in": 6000,
            "tokens_out": 500,
            "cost_usd": pytest.approx(0.060),
            "unpriced_calls": 0,
        },
        # Unknown, not zero.
        {
            "day": D10,
            "model": "mystery-model",
            "purpose": "chat",
            "calls": 1,
            "tokens_in": 1500,
            "tokens_out": 100,
            "cost_usd": None,
            "unpriced_calls": 1,
        },
        {
            "day": D10,
            "model": "text-embedding-3-small",
            "purpose": "query_embedding",
            "calls": 1,
            "tokens_in": 20,
            "tokens_out": 0,
            "cost_usd": pytest.approx(0.001),
            "unpriced_calls": 0,
        },
        {
            "day": D11,
            "model": "text-embedding-3-small",
            "purpose": "ingest_embedding",
            "calls": 2,
            "tokens_in": 300_000,
            "tokens_out": 0,
            "cost_usd": pytest.approx(0.006),
            "unpriced_calls": 0,
        },
        {
            "day": D12,
            "model": "gpt-4o",
            "purpose": "chat",
            "calls": 2,
            "tokens_in": 5000,
            "tokens_out": 500,
            "cost_usd": pytest.approx(0.060),
            "unpriced_calls": 0,
        },
    ]


def test_cost_totals_compare_with_the_previous_period(log: Log) -> None:
    totals = cost_totals(log.engine, PERIOD)
    # 0.060 + 0.001 + 0.006 + 0.060; previous period (7-9 March): 0.040 + 0.010.
    assert asdict(totals) == dict(
        cost_usd=pytest.approx(0.127),
        tokens_in=6000 + 1500 + 20 + 300_000 + 5000,
        tokens_out=1100,
        answers=6,
        conversations=3,
        cost_per_answer=pytest.approx(0.127 / 6),
        cost_per_conversation=pytest.approx(0.127 / 3),
        unpriced_models=["mystery-model"],
        previous_cost_usd=pytest.approx(0.050),
        change_pct=pytest.approx(154.0),  # (0.127 - 0.050) / 0.050
        cache_hits=0,
        saved_usd=0.0,
    )


def test_cost_totals_of_an_empty_period_have_no_ratios(log: Log) -> None:
    totals = cost_totals(log.engine, Period(date(2026, 1, 1), date(2026, 1, 31)))
    assert (totals.cost_usd, totals.answers, totals.cost_per_answer, totals.change_pct) == (0, 0, None, None)
    assert totals.unpriced_models == []
    # 8-9 March cost 0.050 after two days that cost nothing: no percentage against zero.
    after_free = cost_totals(log.engine, Period(date(2026, 3, 8), date(2026, 3, 9)))
    assert (after_free.cost_usd, after_free.previous_cost_usd, after_free.change_pct) == (
        pytest.approx(0.050),
        0,
        None,
    )


def test_cost_per_answer_leaves_unpriced_answers_out_of_the_average(log: Log) -> None:
    assert records(cost_per_answer_by_day(log.engine, PERIOD)) == [
        # 0.011 + 0.020 + 0.030 over the three priced answers; a3 is unpriced.
        {
            "day": D10,
            "answers": 4,
            "cost_usd": pytest.approx(0.061),
            "cost_per_answer": pytest.approx(0.061 / 3),
            "unpriced_answers": 1,
        },
        {
            "day": D12,
            "answers": 2,
            "cost_usd": pytest.approx(0.060),
            "cost_per_answer": pytest.approx(0.030),
            "unpriced_answers": 0,
        },
    ]


def test_cost_per_document_adds_its_ingestion_and_the_answers_citing_it(log: Log) -> None:
    frame = cost_per_document(log.engine, PERIOD)
    assert frame["document_id"].dtype == "Int64"
    assert records(frame) == [
        # a5 cited both: it counts in full for each. The deleted document keeps the title it was cited under.
        {"document_id": None, "document": "Old pricing", "ingest_calls": 0, "ingest_tokens": 0,
         "ingest_cost_usd": 0, "answers": 1, "answer_tokens": 0, "answers_cost_usd": pytest.approx(0.050),
         "total_cost_usd": pytest.approx(0.050), "unpriced": 0},
        {"document_id": log.docs["shipping"], "document": "Shipping times", "ingest_calls": 0,
         "ingest_tokens": 0, "ingest_cost_usd": 0, "answers": 1, "answer_tokens": 0,
         "answers_cost_usd": pytest.approx(0.050), "total_cost_usd": pytest.approx(0.050), "unpriced": 0},
        # Ingested on 11 March (again on the 13th, after the period); a1 and a2 cite it, a2 twice.
        {"document_id": log.docs["refund"], "document": "Refund policy", "ingest_calls": 1,
         "ingest_tokens": 200_000, "ingest_cost_usd": pytest.approx(0.004), "answers": 2, "answer_tokens": 0,
         "answers_cost_usd": pytest.approx(0.031), "total_cost_usd": pytest.approx(0.035), "unpriced": 0},
        # Ingestion calls whose document is gone (deleted, or never stored).
        {"document_id": None, "document": None, "ingest_calls": 1, "ingest_tokens": 100_000,
         "ingest_cost_usd": pytest.approx(0.002), "answers": 0, "answer_tokens": 0, "answers_cost_usd": 0,
         "total_cost_usd": pytest.approx(0.002), "unpriced": 0},
    ]  # fmt: skip
    assert records(cost_per_document(log.engine, DEMO)) == [
        {"document_id": log.docs["security"], "document": "Security", "ingest_calls": 0, "ingest_tokens": 0,
         "ingest_cost_usd": 0, "answers": 1, "answer_tokens": 0, "answers_cost_usd": 1.0,
         "total_cost_usd": 1.0, "unpriced": 0},
    ]  # fmt: skip
    assert cost_per_document(log.engine, Period(date(2026, 1, 1), date(2026, 1, 31))).empty


def test_cost_per_document_keeps_unknown_prices_unknown(log: Log) -> None:
    ingestion = {
        "purpose": "ingest_embedding",
        "model": "mystery-embedder",
        "tokens_in": 500,
        "tokens_out": 0,
    }
    with log.engine.begin() as conn:
        add_answer(conn, log, "unpriced", at(12, 11), cost=None, cited="warranty", tokens=(100, 20))
        conn.execute(
            sa.insert(ModelCall).values(
                call(at(12, 11), None, answer_id=None) | ingestion | {"document_id": log.docs["warranty"]}
            )
        )
    warranty = records(cost_per_document(log.engine, PERIOD))[-1]  # unknown totals come last
    assert warranty == {
        "document_id": log.docs["warranty"],
        "document": "Warranty",
        "ingest_calls": 1,
        "ingest_tokens": 500,
        "ingest_cost_usd": None,
        "answers": 1,
        "answer_tokens": 120,
        "answers_cost_usd": None,
        "total_cost_usd": None,
        "unpriced": 2,
    }


# Latency


def test_latency_percentiles_per_day_and_stage_interpolate_and_ignore_nulls(log: Log) -> None:
    frame = latency_by_day(log.engine, PERIOD)
    assert list(zip(frame["day"], frame["stage"], strict=True)) == [(D10, s) for s in STAGES] + [
        (D12, s) for s in STAGES
    ]
    by = {(r["day"], r["stage"]): (r["p50"], r["p95"], r["p99"]) for r in records(frame)}
    # 100, 200, 300, 400: p50 halfway between 200 and 300, p95 at 3 x 0.95 = 2.85 -> 300 + 0.85 x 100.
    assert by[(D10, "total_ms")] == pytest.approx((250, 385, 397))
    assert by[(D10, "embed_ms")] == pytest.approx((25, 38.5, 39.7))
    # 60, 120, 250 (a3 generated nothing): p95 at 2 x 0.95 = 1.9 -> 120 + 0.9 x 130.
    assert by[(D10, "generate_ms")] == pytest.approx((120, 237, 247.4))
    assert by[(D10, "first_token_ms")] == pytest.approx((45, 58.5, 59.7))
    # 2, 4, 8 and 3, 5, 6 (a3 looked nothing up in the cache, a4 was never logged as done).
    assert by[(D10, "cache_ms")] == pytest.approx((4, 7.6, 7.92))
    assert by[(D10, "log_ms")] == pytest.approx((5, 5.9, 5.98))
    assert by[(D12, "embed_ms")] == pytest.approx((6, 6.9, 6.98))
    assert by[(D12, "total_ms")] == pytest.approx((1000, 1000, 1000))  # a6 has no total


def test_the_stages_and_the_rest_add_up_to_the_mean_total_per_day(log: Log) -> None:
    frame = stage_time_by_day(log.engine, PERIOD)
    assert list(frame.columns) == ["day", "answers", *PARTS, "total_ms"]
    assert records(frame) == [
        # a1-a4, a missing stage counting 0: sums 100, 14, 200, 430, 14 of a total of 1000, 242 left.
        {"day": D10, "answers": 4, "embed_ms": 25, "cache_ms": 3.5, "retrieve_ms": 50, "generate_ms": 107.5,
         "log_ms": 3.5, "other_ms": 60.5, "total_ms": 250},
        # a6 has no total: left out, its stages too.
        {"day": D12, "answers": 1, "embed_ms": 5, "cache_ms": 1, "retrieve_ms": 10, "generate_ms": 900,
         "log_ms": 4, "other_ms": 80, "total_ms": 1000},
    ]  # fmt: skip
    for row in records(frame):
        assert sum(row[part] for part in PARTS) == pytest.approx(row["total_ms"])


def test_the_period_breakdown_weighs_every_answer_alike(log: Log) -> None:
    period = stage_time(log.engine, PERIOD)
    assert period is not None
    # Five answers with a total of 2000 ms: 400 each on average (not 625, the mean of the two days).
    assert asdict(period) == pytest.approx(
        dict(answers=5, embed_ms=21, cache_ms=3, retrieve_ms=42, generate_ms=266, log_ms=3.6, other_ms=64.4,
             total_ms=400)
    )  # fmt: skip
    assert sum(period.parts().values()) == pytest.approx(period.total_ms)
    assert list(period.parts()) == list(PARTS)
    assert total_percentiles(log.engine, PERIOD) == {0.5: 300, 0.95: pytest.approx(880, rel=0.05)}
    empty = Period(date(2026, 1, 1), date(2026, 1, 31))
    assert stage_time(log.engine, empty) is None
    assert stage_time_by_day(log.engine, empty).empty
    assert total_percentiles(log.engine, empty) == {0.5: None, 0.95: None}


def test_latency_histogram_counts_answers_in_equal_buckets(log: Log) -> None:
    # Totals 100, 200, 300, 400, 1000 in four buckets of 225 ms; the slowest closes the last one.
    assert records(latency_histogram(log.engine, PERIOD, bins=4)) == [
        {"bucket_start_ms": 100, "bucket_end_ms": 325, "answers": 3},
        {"bucket_start_ms": 325, "bucket_end_ms": 550, "answers": 1},
        {"bucket_start_ms": 550, "bucket_end_ms": 775, "answers": 0},
        {"bucket_start_ms": 775, "bucket_end_ms": 1000, "answers": 1},
    ]
    assert len(latency_histogram(log.engine, PERIOD)) == 30
    assert sum(latency_histogram(log.engine, PERIOD)["answers"]) == 5


def test_latency_histogram_of_one_duration_or_none(log: Log) -> None:
    after = Period(date(2026, 3, 13), date(2026, 3, 13))
    assert records(latency_histogram(log.engine, after)) == [
        {"bucket_start_ms": 9999, "bucket_end_ms": 9999, "answers": 1}
    ]
    empty = latency_histogram(log.engine, Period(date(2026, 1, 1), date(2026, 1, 2)))
    assert empty.empty and list(empty.columns) == ["bucket_start_ms", "bucket_end_ms", "answers"]
    with pytest.raises(ValueError, match="bins must be at least 1"):
        latency_histogram(log.engine, PERIOD, bins=0)


def test_slowest_answers_come_first_with_their_breakdown(log: Log) -> None:
    frame = slowest_answers(log.engine, PERIOD, limit=3)
    assert list(frame.columns) == [
        "created_at",
        "question",
        "model",
        "state",
        "total_ms",
        "first_token_ms",
        "embed_ms",
        "cache_ms",
        "retrieve_ms",
        "generate_ms",
        "log_ms",
        "error_code",
    ]
    assert list(frame["question"]) == ["question a5", "question a4", "question a3"]
    assert records(frame)[1] | {"created_at": None} == {
        "created_at": None,
        "question": "question a4",
        "model": "gpt-4o",
        "state": "failed",
        "total_ms": 400,
        "first_token_ms": None,
        "embed_ms": 40,
        "cache_ms": 8,
        "retrieve_ms": 80,
        "generate_ms": 250,
        "log_ms": None,
        "error_code": "timeout",
    }
    assert frame["created_at"][0] == at(12, 8)


def test_errors_by_day_count_failed_answers_and_timeouts(log: Log) -> None:
    assert records(errors_by_day(log.engine, PERIOD)) == [
        {"day": D10, "error_code": "timeout", "answers": 1, "timeouts": 1},
        {"day": D12, "error_code": "rate_limited", "answers": 1, "timeouts": 0},
    ]


# Overview


def test_overview_of_the_period(log: Log) -> None:
    assert asdict(overview(log.engine, PERIOD)) == dict(
        questions=6,
        answered_share=0.5,  # a1, a2, a5 of six
        thumbs_up_rate=0.75,  # a1 up twice, a5 up, a2 down; feedback on answers outside is left out
        cost_usd=pytest.approx(0.127),
        median_latency_ms=300,  # of 100, 200, 300, 400, 1000
    )
    assert overview(log.engine, Period(date(2026, 1, 1), date(2026, 1, 2))) == Overview(
        0, None, None, 0, None
    )


def test_questions_by_day_include_days_without_any(log: Log) -> None:
    assert records(questions_by_day(log.engine, PERIOD)) == [
        {"day": D10, "questions": 4, "answered": 2, "unanswered": 2},
        {"day": D11, "questions": 0, "answered": 0, "unanswered": 0},
        {"day": D12, "questions": 2, "answered": 1, "unanswered": 1},
    ]


def test_days_are_utc_days_whatever_the_session_time_zone(log: Log, database_url: str) -> None:
    new_york = sa.create_engine(log.engine.url, connect_args={"options": "-c timezone=America/New_York"})
    try:
        assert records(questions_by_day(new_york, PERIOD)) == records(questions_by_day(log.engine, PERIOD))
        assert records(cost_by_day(new_york, PERIOD)) == records(cost_by_day(log.engine, PERIOD))
    finally:
        new_york.dispose()


def test_most_cited_documents_count_answers_and_keep_deleted_titles(log: Log) -> None:
    frame = most_cited_documents(log.engine, PERIOD)
    assert frame["document_id"].dtype == "Int64"  # ids stay integers next to a deleted document's NA
    assert records(frame) == [
        # The document's current title, not the one an older answer recorded.
        {"document_id": log.docs["refund"], "document": "Refund policy", "citations": 2},
        {"document_id": None, "document": "Old pricing", "citations": 1},
        {"document_id": log.docs["shipping"], "document": "Shipping times", "citations": 1},
    ]
    assert len(most_cited_documents(log.engine, PERIOD, limit=1)) == 1


def test_never_cited_documents_of_the_knowledge_base(log: Log) -> None:
    frame = never_cited_documents(log.engine, log.kb_id, PERIOD)
    assert list(frame.columns) == ["document_id", "document", "filename", "uploaded"]
    # Security was cited only before the period; Future plans did not exist yet; Elsewhere is another base.
    assert records(frame) == [
        {
            "document_id": log.docs["security"],
            "document": "Security",
            "filename": "security.md",
            "uploaded": at(2, 9),
        },
        {
            "document_id": log.docs["warranty"],
            "document": "Warranty",
            "filename": "warranty.md",
            "uploaded": at(3, 9),
        },
    ]


def test_a_demo_period_sees_only_demo_rows(log: Log) -> None:
    assert overview(log.engine, DEMO) == Overview(2, 0.5, 0.0, 1.0, 6000)
    totals = cost_totals(log.engine, DEMO)
    assert (totals.cost_usd, totals.answers, totals.conversations, totals.unpriced_models) == (
        1.0,
        2,
        1,
        ["demo-model"],
    )
    assert list(questions_by_day(log.engine, DEMO)["questions"]) == [0, 2, 0]
    assert records(errors_by_day(log.engine, DEMO)) == [
        {"day": D11, "error_code": "server_error", "answers": 1, "timeouts": 0}
    ]
    assert list(slowest_answers(log.engine, DEMO)["total_ms"]) == [7000, 5000]
    assert list(latency_by_day(log.engine, DEMO)["day"].unique()) == [D11]
    assert records(most_cited_documents(log.engine, DEMO)) == [
        {"document_id": log.docs["security"], "document": "Security", "citations": 1}
    ]
    assert list(never_cited_documents(log.engine, log.kb_id, DEMO)["document"]) == [
        "Refund policy",
        "Shipping times",
        "Warranty",
    ]


def test_an_empty_period_gives_empty_frames_with_their_columns(log: Log) -> None:
    empty = Period(date(2026, 1, 1), date(2026, 1, 31))
    frames = {
        "cost_by_day": cost_by_day(log.engine, empty),
        "cost_per_answer_by_day": cost_per_answer_by_day(log.engine, empty),
        "latency_by_day": latency_by_day(log.engine, empty),
        "slowest_answers": slowest_answers(log.engine, empty),
        "errors_by_day": errors_by_day(log.engine, empty),
        "most_cited_documents": most_cited_documents(log.engine, empty),
    }
    assert {name: frame.empty for name, frame in frames.items()} == dict.fromkeys(frames, True)
    assert list(frames["cost_by_day"].columns) == [
        "day",
        "model",
        "purpose",
        "calls",
        "tokens_in",
        "tokens_out",
        "cost_usd",
        "unpriced_calls",
    ]
    assert list(frames["latency_by_day"].columns) == ["day", "stage", "p50", "p95", "p99"]
    assert list(frames["most_cited_documents"].columns) == ["document_id", "document", "citations"]
    assert len(questions_by_day(log.engine, empty)) == 31


def test_limits_must_be_positive(log: Log) -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        slowest_answers(log.engine, PERIOD, limit=0)
    with pytest.raises(ValueError, match="limit must be at least 1"):
        most_cited_documents(log.engine, PERIOD, limit=0)


# What the answer figures count: finished questions only; the cost counts every model call.


def add_answer(
    conn: sa.Connection,
    log: Log,
    question: str,
    created: datetime,
    *,
    kind: str = "question",
    state: str = "done",
    answered: bool = False,
    cost: str | None = None,
    total_ms: float | None = 1000.0,
    error: str | None = None,
    cited: str | None = None,
    conversation: uuid.UUID | None = None,
    tokens: tuple[int, int] = (0, 0),
) -> int:
    """An answer row as the pipeline leaves it, written directly; `cited` names a cited document."""
    answer_id = _insert(conn, Answer, **ANSWER_DEFAULTS, knowledge_base_id=log.kb_id, question=question,
                        created_at=created, kind=kind, state=state, answered=answered, cost_usd=_money(cost),
                        embed_ms=10.0, cache_ms=1.0, retrieve_ms=20.0, total_ms=total_ms, error_code=error,
                        conversation_id=conversation, tokens_in=tokens[0], tokens_out=tokens[1])  # fmt: skip
    if cited:
        conn.execute(sa.insert(AnswerSource).values(
            answer_id=answer_id, number=1, document_id=log.docs[cited], document_title=cited, location="p. 1",
            snippet="...", score=0.5, cited=True,
        ))  # fmt: skip
    return answer_id


def call(created: datetime, cost: str | None, *, answer_id: int | None) -> dict[str, Any]:
    return {"created_at": created, "purpose": "chat", "provider": "openai", "model": "gpt-4o", "tokens_in": 100,
            "tokens_out": 10, "cost_usd": _money(cost), "duration_ms": 5.0, "ok": True, "user_name": "ana",
            "answer_id": answer_id}  # fmt: skip


def answer_figures(engine: Engine, period: Period, kb_id: int) -> dict[str, Any]:
    """Every figure about answers over `period`, as plain values."""
    frames = {
        "questions_by_day": questions_by_day(engine, period),
        "most_cited_documents": most_cited_documents(engine, period),
        "never_cited_documents": never_cited_documents(engine, kb_id, period),
        "cost_per_answer_by_day": cost_per_answer_by_day(engine, period),
        "latency_by_day": latency_by_day(engine, period),
        "latency_histogram": latency_histogram(engine, period),
        "slowest_answers": slowest_answers(engine, period),
        "errors_by_day": errors_by_day(engine, period),
        "stage_time_by_day": stage_time_by_day(engine, period),
        "questions_by_person": questions_by_person(engine, period),
    }
    totals = cost_totals(engine, period)
    return {name: records(frame) for name, frame in frames.items()} | {
        "overview": asdict(overview(engine, period)) | {"cost_usd": None},
        "stage_time": stage_time(engine, period),
        "answers": (totals.answers, totals.conversations, totals.cache_hits),
        "unanswered": [
            (g.examples, g.reasons)
            for g in unanswered_groups(
                engine, start=period.start, end=period.end, demo=period.demo, threshold=0.3
            )
        ],
    }


def test_questions_in_progress_and_reasks_stay_out_of_the_answer_figures_but_cost(log: Log) -> None:
    before = answer_figures(log.engine, PERIOD, log.kb_id)
    cost_before = cost_totals(log.engine, PERIOD).cost_usd
    with log.engine.begin() as conn:
        c4 = uuid.uuid4()
        conn.execute(sa.insert(Conversation).values(id=c4, user_name="ana", title="t"))
        taken = add_answer(conn, log, "still asking", at(10, 12), state="in_progress", total_ms=5000,
                           cited="security", conversation=c4)  # fmt: skip
        reask = add_answer(conn, log, "asked again", at(12, 9), kind="reask", cost="0.200", total_ms=8000,
                           cited="security")  # fmt: skip
        failed = add_answer(conn, log, "asked again, failed", at(12, 10), kind="reask", state="failed",
                            cost="0.300", total_ms=30_000, error="timeout")  # fmt: skip
        conn.execute(sa.insert(Feedback).values(answer_id=taken, user_name="ana", rating=-1))
        conn.execute(
            sa.insert(ModelCall),
            [call(at(10, 12), "0.100", answer_id=taken), call(at(12, 9), "0.200", answer_id=reask),
             call(at(12, 10), "0.300", answer_id=failed)],
        )  # fmt: skip
        invalidate_rollups(conn)  # rows written to closed days, as if they had been there all along
    assert answer_figures(log.engine, PERIOD, log.kb_id) == before
    assert cost_totals(log.engine, PERIOD).cost_usd == pytest.approx(cost_before + 0.6)
    assert overview(log.engine, PERIOD).cost_usd == pytest.approx(cost_before + 0.6)
    chat = {r["day"]: (r["calls"], r["cost_usd"]) for r in records(cost_by_day(log.engine, PERIOD))
            if r["model"] == "gpt-4o"}  # fmt: skip
    assert chat == {D10: (4, pytest.approx(0.160)), D12: (4, pytest.approx(0.560))}
    # The re-ask cost something because it cited Security; the question in progress is not finished.
    security = next(r for r in records(cost_per_document(log.engine, PERIOD)) if r["document"] == "Security")
    assert (security["answers"], security["answers_cost_usd"]) == (1, pytest.approx(0.2))


def test_an_interrupted_question_counts_as_unanswered(log: Log) -> None:
    with log.engine.begin() as conn:
        add_answer(conn, log, "Can I pay in instalments?", at(12, 9), state="interrupted", total_ms=2000)
    assert records(questions_by_day(log.engine, PERIOD))[2] == {
        "day": D12,
        "questions": 3,
        "answered": 1,
        "unanswered": 2,
    }
    assert overview(log.engine, PERIOD).questions == 7
    [group] = [
        g
        for g in unanswered_groups(log.engine, start=D10, end=D12, demo=False, threshold=0.3)
        if g.examples == ["Can I pay in instalments?"]
    ]
    assert group.reasons == ["interrupted"]
    assert stage_time_by_day(log.engine, PERIOD)["answers"].tolist() == [4, 2]
