"""Documents that stay true: each has an owner and a review-by date, and the risky ones come first.

A document's owner is its uploader until someone changes it; its review date is its latest
version's day plus the knowledge base's `review_days` (both set by a trigger, migration 0017), so a
new version gets a fresh date and keeps its owner. "Reviewed, still true" moves the date on by
`review_days` from today, and is audited. Stale and cited is the risk: due documents are ranked by
how often answers cited them in a period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Answer, AnswerSource, Document, Feedback, KnowledgeBase
from rag.auth.audit import record_action
from rag.errors import InvalidInput
from rag.library.knowledge_bases import KnowledgeBaseRef

DUE_WITHIN_DAYS = 30  # "due": the review date falls within this many days
Status = Literal["ok", "due", "overdue"]


@dataclass(frozen=True)
class DocumentFreshness:
    id: int
    title: str
    filename: str
    version: int
    owner: str
    uploaded_by: str
    updated_at: datetime  # the latest version's
    review_by: date
    reviewed_at: datetime | None
    reviewed_by: str | None
    days_left: int  # negative: overdue by that many days
    status: Status
    citations: int = 0  # cited by answers in the period asked about (ranked lists only)
    rated_down: int = 0  # cited by answers rated down in the period (rated_down_documents only)


def today_utc() -> date:
    return datetime.now(UTC).date()


def document_freshness(
    engine: Engine, kb: KnowledgeBaseRef, *, today: date | None = None, due_within_days: int = DUE_WITHIN_DAYS
) -> list[DocumentFreshness]:
    """Every document of the knowledge base, the earliest review date first."""
    query = _select(kb).order_by(Document.review_by, Document.id)
    return _read(engine, query, today, due_within_days)


def due_documents(
    engine: Engine,
    kb: KnowledgeBaseRef,
    *,
    start: date,
    end: date,
    demo: bool = False,
    today: date | None = None,
    due_within_days: int = DUE_WITHIN_DAYS,
) -> list[DocumentFreshness]:
    """Documents due or overdue, the most cited from `start` to `end` (inclusive days) first."""
    day = today or today_utc()
    citations = _citations(start, end, demo)
    query = (
        _select(kb, citations.c.n)
        .outerjoin(citations, citations.c.document_id == Document.id)
        .where(Document.review_by <= day + timedelta(days=due_within_days))
        .order_by(sa.func.coalesce(citations.c.n, 0).desc(), Document.review_by, Document.id)
    )
    return _read(engine, query, day, due_within_days)


def uncited_documents(
    engine: Engine, kb: KnowledgeBaseRef, *, demo: bool = False, today: date | None = None
) -> list[DocumentFreshness]:
    """Documents no finished answer ever cited: unused, or not found by retrieval. Oldest first."""
    cited = sa.exists().where(
        AnswerSource.document_id == Document.id,
        AnswerSource.cited,
        AnswerSource.answer_id == Answer.id,
        Answer.is_demo == demo,
    )
    query = _select(kb).where(~cited).order_by(Document.updated_at, Document.id)
    return _read(engine, query, today, DUE_WITHIN_DAYS)


def rated_down_documents(
    engine: Engine,
    kb: KnowledgeBaseRef,
    *,
    start: date,
    end: date,
    demo: bool = False,
    today: date | None = None,
) -> list[DocumentFreshness]:
    """Documents cited in answers rated down from `start` to `end`, the most rated down first."""
    down = (
        sa.select(AnswerSource.document_id, sa.func.count(sa.distinct(Answer.id)).label("n"))
        .join(Answer, Answer.id == AnswerSource.answer_id)
        .where(
            AnswerSource.cited,
            Answer.is_demo == demo,
            *_period(start, end),
            sa.exists().where(Feedback.answer_id == Answer.id, Feedback.rating == -1),
        )
        .group_by(AnswerSource.document_id)
        .subquery()
    )
    query = (
        _select(kb, sa.literal(0), down.c.n)
        .join(down, down.c.document_id == Document.id)
        .order_by(down.c.n.desc(), Document.id)
    )
    return _read(engine, query, today, DUE_WITHIN_DAYS)


def sources_past_review(
    engine: Engine, document_ids: Iterable[int | None], *, today: date | None = None
) -> dict[int, date]:
    """Which of an answer's sources are past their review date: document id -> its review date."""
    ids = sorted({i for i in document_ids if i is not None})
    if not ids:
        return {}
    query = sa.select(Document.id, Document.review_by).where(
        Document.id.in_(ids), Document.review_by < (today or today_utc())
    )
    with engine.connect() as conn:
        return {row.id: row.review_by for row in conn.execute(query)}


def mark_reviewed(
    engine: Engine, kb: KnowledgeBaseRef, document_id: int, *, user: str, today: date | None = None
) -> date:
    """ "Reviewed, still true": the next review is `review_days` from today. Audited; returns that date."""
    day = today or today_utc()
    with engine.begin() as conn:
        days = conn.execute(
            sa.select(KnowledgeBase.review_days).where(KnowledgeBase.id == kb.id)
        ).scalar_one()
        row = conn.execute(
            sa.update(Document)
            .where(Document.id == document_id, Document.knowledge_base_id == kb.id)
            .values(review_by=day + timedelta(days=days), reviewed_at=sa.func.now(), reviewed_by=user)
            .returning(Document.filename, Document.version, Document.review_by)
        ).first()
        if row is None:
            raise InvalidInput("That document is no longer in the library.")
        record_action(
            conn,
            actor=user,
            action="document_reviewed",
            target=row.filename,
            version=row.version,
            review_by=row.review_by.isoformat(),
            knowledge_base=kb.name,
        )
    review_by: date = row.review_by
    return review_by


def set_owner(engine: Engine, kb: KnowledgeBaseRef, document_id: int, *, owner: str, user: str) -> None:
    """Make `owner` responsible for the document (and its later versions). Audited."""
    owner = owner.strip()
    if not owner:
        raise InvalidInput("Name the document's owner.")
    _change(engine, kb, document_id, {"owner": owner}, user=user, action="document_owner_set")


def set_review_by(
    engine: Engine, kb: KnowledgeBaseRef, document_id: int, *, review_by: date, user: str
) -> None:
    """Set the review date by hand (earlier after a policy change, later for a stable text). Audited."""
    _change(engine, kb, document_id, {"review_by": review_by}, user=user, action="document_review_date_set")


def review_days(engine: Engine, kb: KnowledgeBaseRef) -> int:
    with engine.connect() as conn:
        days: int = conn.execute(
            sa.select(KnowledgeBase.review_days).where(KnowledgeBase.id == kb.id)
        ).scalar_one()
    return days


def set_review_days(engine: Engine, kb: KnowledgeBaseRef, days: int, *, user: str) -> int:
    """Change the knowledge base's review period. Documents still on the old default (never
    reviewed, date never set by hand) move to the new one; returns how many moved. Audited."""
    if not 1 <= days <= 3650:
        raise InvalidInput("The review period must be between 1 and 3,650 days.")
    with engine.begin() as conn:
        old = conn.execute(
            sa.select(KnowledgeBase.review_days).where(KnowledgeBase.id == kb.id).with_for_update()
        ).scalar_one()
        conn.execute(sa.update(KnowledgeBase).where(KnowledgeBase.id == kb.id).values(review_days=days))
        day = sa.cast(sa.func.timezone("UTC", Document.updated_at), sa.Date)
        moved = conn.execute(
            sa.update(Document)
            .where(
                Document.knowledge_base_id == kb.id,
                Document.reviewed_at.is_(None),
                Document.review_by == day + old,
            )
            .values(review_by=day + days)
        ).rowcount
        record_action(
            conn, actor=user, action="review_days_set", target=kb.name, previous=old, days=days, moved=moved
        )
    return int(moved)


def _change(
    engine: Engine, kb: KnowledgeBaseRef, document_id: int, values: dict[str, Any], *, user: str, action: str
) -> None:
    with engine.begin() as conn:
        filename = conn.execute(
            sa.update(Document)
            .where(Document.id == document_id, Document.knowledge_base_id == kb.id)
            .values(**values)
            .returning(Document.filename)
        ).scalar_one_or_none()
        if filename is None:
            raise InvalidInput("That document is no longer in the library.")
        detail = {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}
        record_action(conn, actor=user, action=action, target=filename, knowledge_base=kb.name, **detail)


def _period(start: date, end: date) -> list[sa.ColumnElement[bool]]:
    return [
        Answer.in_figures.is_(True),
        Answer.created_at >= start,
        Answer.created_at < end + timedelta(days=1),
    ]


def _citations(start: date, end: date, demo: bool) -> sa.Subquery:
    """Per document, the finished answers from `start` to `end` that cited it."""
    return (
        sa.select(AnswerSource.document_id, sa.func.count(sa.distinct(Answer.id)).label("n"))
        .join(Answer, Answer.id == AnswerSource.answer_id)
        .where(AnswerSource.cited, Answer.is_demo == demo, *_period(start, end))
        .group_by(AnswerSource.document_id)
        .subquery()
    )


def _select(kb: KnowledgeBaseRef, *extra: Any) -> sa.Select[*tuple[Any, ...]]:
    columns = [
        Document.id,
        Document.title,
        Document.filename,
        Document.version,
        Document.owner,
        Document.uploaded_by,
        Document.updated_at,
        Document.review_by,
        Document.reviewed_at,
        Document.reviewed_by,
    ]
    labelled = [e.label(name) for e, name in zip(extra, ("citations", "rated_down"), strict=False)]
    return sa.select(*columns, *labelled).where(Document.knowledge_base_id == kb.id)


def _read(
    engine: Engine, query: sa.Select[*tuple[Any, ...]], today: date | None, due_within_days: int
) -> list[DocumentFreshness]:
    day = today or today_utc()
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for r in rows:
        values = dict(r._mapping)
        left = (r.review_by - day).days
        status: Status = "overdue" if left < 0 else "due" if left <= due_within_days else "ok"
        values["citations"] = int(values.get("citations") or 0)
        values["rated_down"] = int(values.get("rated_down") or 0)
        out.append(DocumentFreshness(**values, days_left=left, status=status))
    return out
