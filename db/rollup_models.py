"""Analytics rollups (migration 0005): one row set per closed UTC day and is_demo, written and read
by rag/analytics with SQL. Today is never rolled up; rollup_days lists the days that are.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, created_column


class _RollupDay:
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, primary_key=True)


class RollupDay(_RollupDay, Base):
    __tablename__ = "rollup_days"
    computed_at: Mapped[datetime] = created_column()


class RollupAnswers(_RollupDay, Base):
    __tablename__ = "rollup_answers"
    questions: Mapped[int] = mapped_column(BigInteger)
    answered: Mapped[int] = mapped_column(BigInteger)
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric)
    cost_per_answer: Mapped[float | None] = mapped_column(Float)
    unpriced_answers: Mapped[int] = mapped_column(BigInteger)
    thumbs_up: Mapped[int] = mapped_column(BigInteger)  # ratings of the day's answers, whenever given
    thumbs_down: Mapped[int] = mapped_column(BigInteger)
    cache_hits: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))  # migration 0007
    saved_usd: Mapped[Decimal | None] = mapped_column(Numeric)


class RollupConversations(_RollupDay, Base):
    """Conversations with an answer that day, by days since their previous answer (0: none before)."""

    __tablename__ = "rollup_conversations"
    gap_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversations: Mapped[int] = mapped_column(BigInteger)


class RollupLatency(_RollupDay, Base):
    __tablename__ = "rollup_latency"
    stage: Mapped[str] = mapped_column(String(20), primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    p50: Mapped[float] = mapped_column(Float)
    p95: Mapped[float] = mapped_column(Float)
    p99: Mapped[float] = mapped_column(Float)


class RollupStageTime(_RollupDay, Base):
    """Sums of the day's stage times over its answers with a total (a missing stage counts 0):
    divided by `answers`, the stages and the remainder add up to the mean total."""

    __tablename__ = "rollup_stage_time"
    answers: Mapped[int] = mapped_column(BigInteger)
    embed_ms: Mapped[float] = mapped_column(Float)
    cache_ms: Mapped[float] = mapped_column(Float)
    retrieve_ms: Mapped[float] = mapped_column(Float)
    generate_ms: Mapped[float] = mapped_column(Float)
    log_ms: Mapped[float] = mapped_column(Float)
    total_ms: Mapped[float] = mapped_column(Float)


class RollupLatencyBucket(_RollupDay, Base):
    """Total latency in fixed log buckets, 5% wide: bucket = floor(ln(max(ms, 1)) / ln(1.05))."""

    __tablename__ = "rollup_latency_buckets"
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    answers: Mapped[int] = mapped_column(BigInteger)
    min_ms: Mapped[float] = mapped_column(Float)
    max_ms: Mapped[float] = mapped_column(Float)
    sum_ms: Mapped[float] = mapped_column(Float)


class RollupSlowest(_RollupDay, Base):
    __tablename__ = "rollup_slowest"
    answer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    total_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RollupErrors(_RollupDay, Base):
    __tablename__ = "rollup_errors"
    error_code: Mapped[str] = mapped_column(String(50), primary_key=True)
    answers: Mapped[int] = mapped_column(BigInteger)
    timeouts: Mapped[int] = mapped_column(BigInteger)


class RollupCost(_RollupDay, Base):
    __tablename__ = "rollup_cost"
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(30), primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger)
    tokens_in: Mapped[int] = mapped_column(BigInteger)
    tokens_out: Mapped[int] = mapped_column(BigInteger)
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric)
    unpriced_calls: Mapped[int] = mapped_column(BigInteger)


class RollupCitations(Base):
    __tablename__ = "rollup_citations"
    __table_args__ = (Index("ix_rollup_citations_demo_day", "is_demo", "day"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    is_demo: Mapped[bool] = mapped_column(Boolean)
    document_id: Mapped[int | None] = mapped_column(Integer)  # as the answers recorded it
    document_title: Mapped[str] = mapped_column(Text)
    citations: Mapped[int] = mapped_column(BigInteger)  # answers citing it that day


class RollupDocumentCost(Base):
    """What each document cost that day (migration 0012): its ingestion calls (part 'ingest', by
    document) and the finished answers citing it, re-asks included (part 'answers', by document and
    the title the answers recorded, which a deleted document's row keeps)."""

    __tablename__ = "rollup_document_cost"
    __table_args__ = (Index("ix_rollup_document_cost_demo_day", "is_demo", "day"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    is_demo: Mapped[bool] = mapped_column(Boolean)
    part: Mapped[str] = mapped_column(String(10))  # ingest, answers
    document_id: Mapped[int | None] = mapped_column(Integer)  # as the rows recorded it
    document_title: Mapped[str | None] = mapped_column(Text)  # answers only
    items: Mapped[int] = mapped_column(BigInteger)  # calls, or answers
    tokens: Mapped[int] = mapped_column(BigInteger)
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric)  # NULL: none of them priced
    unpriced: Mapped[int] = mapped_column(BigInteger)


class RollupPeople(_RollupDay, Base):
    """The day's answers in the figures per person who asked (migration 0012)."""

    __tablename__ = "rollup_people"
    user_name: Mapped[str] = mapped_column(Text, primary_key=True)
    questions: Mapped[int] = mapped_column(BigInteger)
    answered: Mapped[int] = mapped_column(BigInteger)
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric)
    last_question: Mapped[datetime] = mapped_column(DateTime(timezone=True))
