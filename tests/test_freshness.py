"""Owners and review dates on a real database: defaults, new versions, review, ranking of the risky ones."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from db.models import Answer, AnswerSource, Feedback
from rag.auth.audit import audit_entries
from rag.console import Console
from rag.errors import InvalidInput
from rag.ingest.pipeline import ingest_file
from rag.library.freshness import (
    DocumentFreshness,
    document_freshness,
    due_documents,
    mark_reviewed,
    rated_down_documents,
    review_days,
    set_owner,
    set_review_by,
    set_review_days,
    sources_past_review,
    today_utc,
    uncited_documents,
)
from tests.conftest import ConsoleFactory

RETURNS = b"# Returns\n\nOpened headphones can be returned within 14 days."
SHIPPING = b"# Shipping\n\nParcels to Germany arrive in three to five business days."
WARRANTY = b"# Warranty\n\nEvery device has a two-year warranty."


def ingest(console: Console, name: str, data: bytes, user: str = "ana") -> int:
    result = ingest_file(console, name, data, user=user)
    assert result.ok and result.document_id is not None
    return result.document_id


def by_id(console: Console, today: date | None = None) -> dict[int, DocumentFreshness]:
    return {d.id: d for d in document_freshness(console.engine, console.kb, today=today)}


def test_a_document_is_owned_by_its_uploader_and_due_after_the_review_period(
    make_console: ConsoleFactory,
) -> None:
    console = make_console()
    doc = ingest(console, "returns.md", RETURNS)
    [fresh] = document_freshness(console.engine, console.kb)
    today = today_utc()
    assert (fresh.id, fresh.owner, fresh.uploaded_by) == (doc, "ana", "ana")
    assert fresh.review_by == today + timedelta(days=180) and fresh.status == "ok"
    assert fresh.days_left == 180 and fresh.reviewed_at is None
    # 170 days on it is due, 181 days on overdue.
    assert by_id(console, today + timedelta(days=170))[doc].status == "due"
    assert by_id(console, today + timedelta(days=181))[doc].days_left == -1

    # A new version keeps the owner someone chose and gets a fresh date.
    set_owner(console.engine, console.kb, doc, owner="grace", user="km")
    set_review_by(console.engine, console.kb, doc, review_by=today - timedelta(days=3), user="km")
    assert by_id(console)[doc].status == "overdue"
    ingest(console, "returns.md", RETURNS + b" Refunds take five days.", user="ben")
    [fresh] = document_freshness(console.engine, console.kb)
    assert (fresh.version, fresh.owner, fresh.uploaded_by) == (2, "grace", "ben")
    assert fresh.review_by == today + timedelta(days=180)
    actions = [(e.action, e.actor, e.target) for e in audit_entries(console.engine)]
    assert ("document_owner_set", "km", "returns.md") in actions
    assert ("document_review_date_set", "km", "returns.md") in actions
    with pytest.raises(InvalidInput, match="owner"):
        set_owner(console.engine, console.kb, doc, owner="  ", user="km")
    with pytest.raises(InvalidInput, match="no longer in the library"):
        set_owner(console.engine, console.kb, doc + 99, owner="x", user="km")


def test_reviewed_still_true_resets_the_date_and_is_audited(make_console: ConsoleFactory) -> None:
    console = make_console()
    doc = ingest(console, "returns.md", RETURNS)
    today = today_utc()
    set_review_by(console.engine, console.kb, doc, review_by=today - timedelta(days=10), user="km")
    assert sources_past_review(console.engine, [doc, None, doc + 1]) == {doc: today - timedelta(days=10)}

    assert mark_reviewed(console.engine, console.kb, doc, user="grace") == today + timedelta(days=180)
    fresh = by_id(console)[doc]
    assert fresh.reviewed_by == "grace" and fresh.reviewed_at is not None
    assert fresh.status == "ok" and sources_past_review(console.engine, [doc]) == {}
    [entry] = audit_entries(console.engine, action="document_reviewed")
    assert (entry.actor, entry.target) == ("grace", "returns.md")
    assert entry.detail["review_by"] == (today + timedelta(days=180)).isoformat()
    assert entry.detail["version"] == 1
    with pytest.raises(InvalidInput):
        mark_reviewed(console.engine, console.kb, doc + 1, user="grace")


def test_the_review_period_moves_documents_still_on_the_default(make_console: ConsoleFactory) -> None:
    console = make_console()
    on_default = ingest(console, "returns.md", RETURNS)
    by_hand = ingest(console, "shipping.md", SHIPPING)
    reviewed = ingest(console, "warranty.md", WARRANTY)
    today = today_utc()
    set_review_by(console.engine, console.kb, by_hand, review_by=today + timedelta(days=5), user="km")
    mark_reviewed(console.engine, console.kb, reviewed, user="km", today=today - timedelta(days=1))
    assert set_review_days(console.engine, console.kb, 90, user="km") == 1
    assert review_days(console.engine, console.kb) == 90
    dates = {i: d.review_by for i, d in by_id(console).items()}
    assert dates == {
        on_default: today + timedelta(days=90),
        by_hand: today + timedelta(days=5),
        reviewed: today + timedelta(days=179),
    }
    # New documents follow the new period.
    faq = ingest(console, "faq.md", b"# FAQ\n\nAsk us.")
    assert by_id(console)[faq].review_by == today + timedelta(days=90)
    with pytest.raises(InvalidInput, match="between 1 and 3,650"):
        set_review_days(console.engine, console.kb, 0, user="km")
    [entry] = audit_entries(console.engine, action="review_days_set")
    assert entry.detail == {"previous": 180, "days": 90, "moved": 1}


def test_due_documents_rank_by_citations_and_the_unused_and_rated_down_are_listed(
    make_console: ConsoleFactory,
) -> None:
    console = make_console()
    returns, shipping, warranty = (
        ingest(console, n, d) for n, d in (("r.md", RETURNS), ("s.md", SHIPPING), ("w.md", WARRANTY))
    )
    today = today_utc()
    for doc in (returns, shipping):
        set_review_by(console.engine, console.kb, doc, review_by=today - timedelta(days=1), user="km")
    # Shipping cited by three answers (one rated down), returns by one, warranty only retrieved.
    cites = [(shipping, True), (shipping, True), (shipping, True), (returns, True), (warranty, False)]
    ids = []
    with console.engine.begin() as conn:
        for document_id, cited in cites:
            answer_id = conn.execute(
                sa.insert(Answer)
                .values(
                    knowledge_base_id=console.kb.id,
                    question="q",
                    answer="a [1]",
                    answered=True,
                    answer_mode="offline",
                    model="extractive",
                    embedding_model="hash",
                    user_name="agent",
                )
                .returning(Answer.id)
            ).scalar_one()
            ids.append(answer_id)
            conn.execute(
                sa.insert(AnswerSource).values(
                    answer_id=answer_id,
                    number=1,
                    document_id=document_id,
                    document_title="t",
                    location="",
                    snippet="",
                    score=0.9,
                    cited=cited,
                )
            )
        conn.execute(
            sa.insert(Feedback).values(answer_id=ids[0], rating=-1, reason="outdated", user_name="agent")
        )
    due = due_documents(console.engine, console.kb, start=today, end=today)
    assert [(d.id, d.citations, d.status) for d in due] == [(shipping, 3, "overdue"), (returns, 1, "overdue")]
    # Another period: nothing cited, still due, the earliest date first.
    yesterday = today - timedelta(days=1)
    assert [
        d.citations for d in due_documents(console.engine, console.kb, start=yesterday, end=yesterday)
    ] == [0, 0]
    assert [d.id for d in uncited_documents(console.engine, console.kb)] == [warranty]
    assert uncited_documents(console.engine, console.kb, demo=True) != []  # demo citations are apart
    down = rated_down_documents(console.engine, console.kb, start=today, end=today)
    assert [(d.id, d.rated_down) for d in down] == [(shipping, 1)]
