"""The schema as SQLAlchemy models. Migrations in db/migrations create and upgrade it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def created_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class KnowledgeBase(Base):
    """A named set of documents embedded by one model; vectors of two models never mix."""

    __tablename__ = "knowledge_bases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    embedding_provider: Mapped[str] = mapped_column(String(50))
    embedding_model: Mapped[str] = mapped_column(String(200))
    embedding_dimensions: Mapped[int] = mapped_column(Integer)
    # Kept by triggers on chunks (migration 0002): BM25's collection size and average length.
    chunk_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    lexeme_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # A document is due for review this many days after its latest version (rag/library/freshness.py).
    review_days: Mapped[int] = mapped_column(Integer, server_default=text("180"))
    created_at: Mapped[datetime] = created_column()


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("knowledge_base_id", "content_hash"),
        # One document per name: a new upload of the name replaces it as its next version.
        Index("uq_documents_kb_filename", "knowledge_base_id", "filename", unique=True),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'ready'"))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    chunk_count: Mapped[int] = mapped_column(Integer)
    token_count: Mapped[int] = mapped_column(Integer)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    uploaded_by: Mapped[str] = mapped_column(Text)
    # The server folder a folder sync took it from; a file gone from there removes the document.
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
    # Who keeps it true, and by when it is checked again. A trigger (migration 0017) fills them in:
    # the uploader, and the latest version's day plus the knowledge base's review_days; a new
    # version keeps its owner and gets a fresh date.
    owner: Mapped[str] = mapped_column(Text)
    review_by: Mapped[date] = mapped_column(Date)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[str | None] = mapped_column(Text)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("document_id", "position"),
        Index("ix_chunks_tsv", "tsv", postgresql_using="gin"),
        # The HNSW index is per knowledge base (partial, on embedding::halfvec(dims)): see
        # rag/library/indexes.py. One column serves models of any dimension.
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    knowledge_base_id: Mapped[int] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    page_start: Mapped[int | None] = mapped_column(Integer)
    page_end: Mapped[int | None] = mapped_column(Integer)
    heading: Mapped[str | None] = mapped_column(Text)
    embedding: Mapped[list[float]] = mapped_column(Vector())
    tsv: Mapped[str] = mapped_column(TSVECTOR, Computed("to_tsvector('english', text)", persisted=True))


class LexemeStat(Base):
    """How many chunks of a knowledge base hold a lexeme: BM25's document frequency, read not counted.

    Kept by the triggers on chunks (migration 0014), as `KnowledgeBase.chunk_count` is.
    """

    __tablename__ = "lexeme_stats"
    knowledge_base_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), primary_key=True
    )
    lexeme: Mapped[str] = mapped_column(Text, primary_key=True)
    df: Mapped[int] = mapped_column(BigInteger)


class IngestionEvent(Base):
    """Every upload attempt and how it ended, including the ones that stored nothing."""

    __tablename__ = "ingestion_events"
    __table_args__ = (Index("ix_ingestion_events_created_at", "created_at"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(20))  # ingested, replaced, duplicate, rejected, failed
    reason: Mapped[str | None] = mapped_column(Text)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    chunk_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    token_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    duration_ms: Mapped[float] = mapped_column(Float)
    uploaded_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()


class StoredFile(Base):
    """An uploaded file's bytes, by content hash, kept while a job may still need them."""

    __tablename__ = "stored_files"
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_column()


class IngestionJob(Base):
    """One file's way into the library, as people see it: queued, running, then how it ended.

    The queue itself (procrastinate's tables) only knows which job to run next; this row is what
    the Documents page and `rag ingest` show, from any process.
    """

    __tablename__ = "ingestion_jobs"
    __table_args__ = (
        Index("ix_ingestion_jobs_kb_created_at", "knowledge_base_id", "created_at"),
        Index(
            "ix_ingestion_jobs_active",
            "state",
            postgresql_where=text("state IN ('queued', 'parsing', 'embedding', 'storing')"),
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str | None] = mapped_column(Text)  # a synced folder
    uploaded_by: Mapped[str] = mapped_column(Text)
    # queued, parsing, embedding, storing; then ingested, replaced, duplicate, rejected, failed, cancelled
    state: Mapped[str] = mapped_column(String(20), server_default=text("'queued'"))
    message: Mapped[str | None] = mapped_column(Text)
    batches_done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    batches_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    chunk_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    token_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)  # procrastinate_jobs.id
    cancel_requested: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = created_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = created_column()


class EmbeddedBatch(Base):
    """Vectors of one embedding batch of a document not stored yet: what a job already paid for.

    A job that dies or fails part-way resumes from here; the rows go when the document is stored.
    """

    __tablename__ = "embedded_batches"
    resume_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch: Mapped[int] = mapped_column(Integer, primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    dimensions: Mapped[int] = mapped_column(Integer)
    vectors: Mapped[bytes] = mapped_column(LargeBinary)  # float32, row after row
    # The model_calls that paid for it: they are the document's once it is stored.
    call_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default=text("'{}'"))
    created_at: Mapped[datetime] = created_column()


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user", "user_name", "created_at"),)
    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_name: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()


class Answer(Base):
    """One exchange: the question, the answer and everything needed to judge cost and speed."""

    __tablename__ = "answers"
    __table_args__ = (
        Index("ix_answers_created_at", "created_at"),
        Index("ix_answers_conversation", "conversation_id", "created_at"),
        Index("ix_answers_demo_created_at", "is_demo", "created_at"),  # analytics: a period, real or demo
        Index("ix_answers_user_created_at", "user_name", "created_at"),  # per-user limits
        Index("ix_answers_in_progress", "created_at", postgresql_where=text("state = 'in_progress'")),
        CheckConstraint("state IN ('in_progress', 'done', 'failed', 'interrupted')", name="ck_answers_state"),
        CheckConstraint("kind IN ('question', 'reask')", name="ck_answers_kind"),
        Index("ix_answers_gap", "gap_id", postgresql_where=text("gap_id IS NOT NULL")),
        Index(
            "ix_answers_curated", "curated_answer_id", postgresql_where=text("curated_answer_id IS NOT NULL")
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    knowledge_base_id: Mapped[int] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    answered: Mapped[bool] = mapped_column(Boolean)
    incomplete: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    best_score: Mapped[float | None] = mapped_column(Float)
    answer_mode: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(200))
    embedding_model: Mapped[str] = mapped_column(String(200))
    tokens_in: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    tokens_out: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 8))  # NULL: model not in the price table
    embed_ms: Mapped[float | None] = mapped_column(Float)
    retrieve_ms: Mapped[float | None] = mapped_column(Float)
    generate_ms: Mapped[float | None] = mapped_column(Float)
    # From the question taken to the first text the person could see (LLM and offline answerer
    # alike); rows logged before migration 0010 measured it from the model request instead.
    first_token_ms: Mapped[float | None] = mapped_column(Float)
    cache_ms: Mapped[float | None] = mapped_column(Float)  # answer cache lookups
    log_ms: Mapped[float | None] = mapped_column(Float)  # writing the answer's rows, start and finish
    # From the question taken to the answer logged: the stages above (first token aside) plus a
    # remainder (reading the conversation, drawing) add up to it.
    total_ms: Mapped[float | None] = mapped_column(Float)
    cache_hit: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    saved_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 8))  # a cache hit: what the original cost
    # The answer a cache hit repeats; no foreign key, so deleting old logs never checks this column.
    cached_from: Mapped[int | None] = mapped_column(BigInteger)
    error_code: Mapped[str | None] = mapped_column(String(50))
    error: Mapped[str | None] = mapped_column(Text)
    user_name: Mapped[str] = mapped_column(Text)
    question_embedding: Mapped[list[float] | None] = mapped_column(Vector())  # groups unanswered questions
    resolved_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True)
    )  # unanswered, then documented
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    is_demo: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))  # `rag demo-data` rows
    # Logged when the question is taken (in_progress), then done, failed or interrupted (abandoned
    # by a click or a closed tab, or closed by the sweep after its process died).
    state: Mapped[str] = mapped_column(String(20), server_default=text("'done'"))
    # question, or reask (the Unanswered page asking again): re-asks cost and count for the
    # limits, but stay out of the answer figures.
    kind: Mapped[str] = mapped_column(String(10), server_default=text("'question'"))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The relevance gate's verdict on an answer (rag/answer/gate.py): high, or low (answered from
    # weak evidence, marked so, listed on the Unanswered page); NULL when not answered.
    confidence: Mapped[str | None] = mapped_column(String(10))
    # What the answer figures (analytics, Unanswered) count: finished questions.
    in_figures: Mapped[bool] = mapped_column(
        Boolean, Computed("kind = 'question' AND state <> 'in_progress'", persisted=True)
    )
    # The gap (a persistent unanswered group) this flagged question belongs to, once someone acted on it.
    gap_id: Mapped[int | None] = mapped_column(ForeignKey("gaps.id", ondelete="SET NULL"))
    # The curated answer given instead of a generated one (rag/answer/curated.py).
    curated_answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("curated_answers.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_column()


class Feedback(Base):
    """A thumbs up or down on an answer; a thumbs down says why."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("answer_id", "user_name"),
        CheckConstraint("rating IN (-1, 1)", name="ck_feedback_rating"),
        Index("ix_feedback_created_at", "created_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(SmallInteger)  # 1 up, -1 down
    reason: Mapped[str | None] = mapped_column(String(30))  # wrong, outdated, missing, bad_citation
    comment: Mapped[str | None] = mapped_column(Text)
    user_name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()


class AnswerSource(Base):
    """A chunk retrieved for an answer, kept as it was even if its document is deleted later."""

    __tablename__ = "answer_sources"
    __table_args__ = (
        Index("ix_answer_sources_document", "document_id"),
        Index("ix_answer_sources_chunk", "chunk_id"),
    )
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)  # the [n] label
    chunk_id: Mapped[int | None] = mapped_column(ForeignKey("chunks.id", ondelete="SET NULL"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    document_title: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(Text)
    snippet: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    cited: Mapped[bool] = mapped_column(Boolean)


class ModelCall(Base):
    """Every model API call, ingestion included: the raw material of cost and latency analytics."""

    __tablename__ = "model_calls"
    __table_args__ = (
        Index("ix_model_calls_created_at", "created_at"),
        Index("ix_model_calls_demo_created_at", "is_demo", "created_at"),
        Index("ix_model_calls_answer", "answer_id"),
        Index("ix_model_calls_user_created_at", "user_name", "created_at"),  # per-user limits
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(30))  # chat, query_embedding, ingest_embedding
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    tokens_in: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    tokens_out: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 8))
    duration_ms: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column(Boolean)
    error_code: Mapped[str | None] = mapped_column(String(50))
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    user_name: Mapped[str] = mapped_column(Text)
    # Tokens counted with tiktoken: the call was abandoned before the provider reported its usage.
    usage_estimated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_demo: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = created_column()


class AnswerCacheEntry(Base):
    """An answer that can be given again to the same user for the same question (rag/answer_cache.py).

    Valid only while every chunk it was built from still exists and every document it drew on is at
    the version it had: replacing or deleting a document removes its chunks.
    """

    __tablename__ = "answer_cache"
    __table_args__ = (
        UniqueConstraint("knowledge_base_id", "user_name", "question_key"),
        Index("ix_answer_cache_answer", "answer_id"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    user_name: Mapped[str] = mapped_column(Text)
    question_key: Mapped[str] = mapped_column(Text)  # the normalised question
    question_embedding: Mapped[list[float] | None] = mapped_column(Vector())
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))  # the original
    model: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)
    passages: Mapped[list[dict[str, object]]] = mapped_column(JSONB)
    cited: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    chunk_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))  # the passages the answer was built from
    document_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    document_versions: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 8))  # what the original answer cost
    hits: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_hit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()


class User(Base):
    """A person who signs in: built-in accounts have a password hash, OIDC ones do not need one."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('agent', 'knowledge_manager', 'manager')", name="ck_users_role"),
        CheckConstraint("email = lower(email)", name="ck_users_email_lower"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text, server_default=text("''"))
    role: Mapped[str] = mapped_column(String(30))
    password_hash: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Consecutive failed sign-ins; reaching the limit sets locked_until (rag/users.py).
    failed_logins: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A temporary password (set by a manager): changed at the next sign-in before anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()


class SetupCode(Base):
    """The one-time code that guards the first-run form while there is no account
    (rag/auth/setup_code.py): one row at most, only its SHA-256 kept, deleted once used."""

    __tablename__ = "setup_code"
    __table_args__ = (CheckConstraint("id = 1", name="ck_setup_code_one_row"),)
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserSession(Base):
    """A signed-in browser: the cookie holds a random token, this row its SHA-256 (rag/auth/sessions.py)."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_column()
    last_seen_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # slides with use
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    client_address: Mapped[str | None] = mapped_column(Text)


class SignInFailure(Base):
    """A refused sign-in, by client address: many from one address slow that address down."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_address", "client_address", "created_at"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_address: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()


class AuditEntry(Base):
    """An administrative action: who did what to which user or document."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_created", "created_at"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, server_default=text("'{}'"))
    created_at: Mapped[datetime] = created_column()


class ApiKey(Base):
    """A key for the HTTP API (rag/auth/api_keys.py): it acts as its account, within one knowledge
    base; only its SHA-256 is kept, and its first characters to tell keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (
        Index("ux_api_keys_live_name", "name", unique=True, postgresql_where=text("revoked_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    knowledge_base: Mapped[str] = mapped_column(Text)  # the knowledge base's name
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Gap(Base):
    """An unanswered group someone acted on (rag/analytics/gaps.py): assigned, answered by a new
    document and awaiting confirmation, or resolved. Its flagged answers point to it (answers.gap_id)."""

    __tablename__ = "gaps"
    __table_args__ = (
        CheckConstraint("state IN ('open', 'assigned', 'answered', 'resolved')", name="ck_gaps_state"),
        Index("ix_gaps_kb_state", "knowledge_base_id", "state"),
        Index("ix_gaps_resolved_at", "is_demo", "resolved_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    is_demo: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    title: Mapped[str] = mapped_column(Text)  # a representative question, re-asked by the gap loop
    state: Mapped[str] = mapped_column(String(10), server_default=text("'open'"))
    assignee: Mapped[str | None] = mapped_column(Text)
    due_on: Mapped[date | None] = mapped_column(Date)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the group's first question
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assigned_by: Mapped[str | None] = mapped_column(Text)
    # The loop's finding, awaiting a person: the re-ask's answer and the document it cited first.
    answered_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    answered_document_title: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answer_text: Mapped[str | None] = mapped_column(Text)
    reask_answer_id: Mapped[int | None] = mapped_column(BigInteger)  # no foreign key, as cached_from
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()


class GapLoopState(Base):
    """The gap loop's watermark per knowledge base: documents changed after `checked_through` have
    not been tried on the open gaps yet; `running_until` is a running loop's lease."""

    __tablename__ = "gap_loop_state"
    knowledge_base_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), primary_key=True
    )
    checked_through: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    running_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_reasked: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_answered: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class CuratedAnswer(Base):
    """The right answer to a question, written by a knowledge manager (rag/answer/curated.py).

    Given first to similar questions while every document it cites is as it was when written
    (same content hash); replacing or deleting one invalidates it.
    """

    __tablename__ = "curated_answers"
    __table_args__ = (Index("ix_curated_answers_kb", "knowledge_base_id", "is_demo"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    is_demo: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    question: Mapped[str] = mapped_column(Text)
    question_key: Mapped[str] = mapped_column(Text)  # the normalised question, for exact matches
    question_embedding: Mapped[list[float] | None] = mapped_column(Vector())
    answer: Mapped[str] = mapped_column(Text)
    document_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer))  # cited, in citation order [1], [2]...
    document_titles: Mapped[list[str]] = mapped_column(ARRAY(Text))
    document_hashes: Mapped[list[str]] = mapped_column(ARRAY(Text))  # each one's content when written
    document_versions: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    author: Mapped[str] = mapped_column(Text)
    source_answer_id: Mapped[int | None] = mapped_column(BigInteger)  # the rated-down or unanswered one
    gap_id: Mapped[int | None] = mapped_column(ForeignKey("gaps.id", ondelete="SET NULL"))
    hits: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_hit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    invalidated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    invalidated_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
