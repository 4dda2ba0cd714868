"""The questions the console could not answer, grouped, resolved once documented, and re-asked.

A finished question (re-asks and answers in progress aside) is flagged when it was not answered
(model failures aside), was interrupted before it was, was answered with low confidence (the
relevance gate's verdict, rag/answer/gate.py; for answers logged before it, a best passage under
the relevance threshold), or someone rated it down. Flagged questions are grouped by the similarity of their
embeddings (single link), so paraphrases of one missing topic count together. A knowledge
manager documents the topic, re-asks the group's wordings against today's library (logged as
re-asks, out of the figures), and marks the group resolved with a note.

A group someone acted on has a gap (rag/analytics/gaps.py): its state (open, assigned, answered and
awaiting confirmation, resolved), assignee, due date and the document that answered it. A group
without one is open; a resolved gap whose group has new, unresolved questions is open again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import Answer, AnswerSource, Feedback
from rag.analytics.gaps import GapState, GapView, ensure_gap, gaps_by_id, reopen_gaps, resolve_gap
from rag.answer.pipeline import prepare, stream
from rag.console import Console
from rag.errors import LimitReached

MAX_EXAMPLES = 5
MAX_DOCUMENTS = 3
REASONS = ("not answered", "interrupted", "low confidence", "rated down")


@dataclass(frozen=True)
class UnansweredGroup:
    key: int  # the group's smallest answer id: stable while the group grows
    answer_ids: list[int]
    count: int
    first_seen: datetime
    last_seen: datetime
    examples: list[str]  # distinct wordings, most recent first
    reasons: list[str]  # in REASONS' order
    closest_documents: list[str]  # titles retrieved most often for these questions
    resolved: bool  # every answer in the group is resolved
    resolution_note: str | None  # the latest note given, even if newer questions reopened the group
    # Its gap's (rag/analytics/gaps.py); a group nobody acted on is open.
    state: GapState = "open"
    gap_id: int | None = None
    title: str | None = None  # the gap's representative question, re-asked by the gap loop
    assignee: str | None = None
    due_on: date | None = None
    answered_document: str | None = None  # answered (awaiting confirmation) or resolved by this document
    answered_document_id: int | None = None
    answered_at: datetime | None = None
    proposed_answer: str | None = None  # the re-ask's answer that found it answered
    resolved_at: datetime | None = None
    time_to_resolve: timedelta | None = None  # from the gap's first question to its resolution

    @property
    def question(self) -> str:
        """What the group asks: its gap's title, or its latest wording."""
        return self.title or self.examples[0]


@dataclass(frozen=True)
class _Flagged:
    id: int
    question: str
    created_at: datetime
    embedding: npt.NDArray[np.float32] | None
    resolved_at: datetime | None
    resolution_note: str | None
    reasons: tuple[str, ...]
    gap_id: int | None = None


@dataclass(frozen=True)
class Reask:
    question: str
    answered: bool
    best_score: float | None
    top_document: str | None
    answer: str
    refused: str | None = None  # not asked: the user's limit was reached


def unanswered_groups(
    engine: Engine,
    *,
    start: date,
    end: date,
    demo: bool,
    threshold: float,
    similarity: float = 0.8,
    limit: int = 500,
) -> list[UnansweredGroup]:
    """Flagged exchanges from `start` to `end` (inclusive days), grouped; biggest, then latest, first."""
    flagged = _flagged(engine, start=start, end=end, demo=demo, threshold=threshold, limit=limit)
    clusters = _cluster(flagged, similarity)
    documents = _documents(engine, [f.id for f in flagged])
    with engine.connect() as conn:
        gaps = gaps_by_id(conn, sorted({f.gap_id for f in flagged if f.gap_id is not None}))
    groups = [_group(members, documents, gaps) for members in clusters]
    groups.sort(key=lambda g: (-g.count, -g.last_seen.timestamp(), g.key))
    return groups


def resolve_group(engine: Engine, answer_ids: Sequence[int], *, user: str, note: str) -> int:
    """Mark these answers as documented, and their group's gap resolved; returns how many answers
    changed."""
    if not answer_ids:
        return 0
    with engine.begin() as conn:
        gap_id = ensure_gap(conn, answer_ids)
        return resolve_gap(conn, gap_id, user=user, note=note.strip())


def reopen_group(engine: Engine, answer_ids: Sequence[int]) -> int:
    """Undo `resolve_group` (its gap goes back to assigned, or open); returns how many rows changed."""
    if not answer_ids:
        return 0
    with engine.begin() as conn:
        reopen_gaps(conn, answer_ids)
        values = {"resolved_at": None, "resolved_by": None, "resolution_note": None}
        result = conn.execute(sa.update(Answer).where(Answer.id.in_(list(answer_ids))).values(**values))
    return int(result.rowcount)


def reask(console: Console, questions: list[str], *, user: str) -> list[Reask]:
    """Run each question through the full pipeline on today's library, as `user`.

    Each is logged as a re-ask: it costs and counts for the user's limits, but stays out of the
    answer figures and the conversations. A question over a limit is not asked (`refused` says why),
    nor are the ones after it.
    """
    results: list[Reask] = []
    for question in questions:
        try:
            result = prepare(console, question, user=user, kind="reask")
        except LimitReached as exc:
            refused = str(exc)
            results += [Reask(q, False, None, None, "", refused) for q in questions[len(results) :]]
            break
        for _ in stream(result):
            pass
        best = max(result.passages, key=lambda p: p.score, default=None)
        results.append(
            Reask(
                question=question,
                answered=result.answered,
                best_score=best.score if best else None,
                top_document=best.document if best else None,
                answer=result.answer,
            )
        )
    return results


def _flagged(
    engine: Engine, *, start: date, end: date, demo: bool, threshold: float, limit: int
) -> list[_Flagged]:
    # A failed model call is an outage, not a gap in the documents: the errors chart shows those.
    interrupted = Answer.state == "interrupted"
    not_answered = sa.and_(sa.not_(Answer.answered), Answer.error_code.is_(None), sa.not_(interrupted))
    # The gate's verdict where it was recorded; answers logged before it, by their best cosine.
    low = sa.case(
        (Answer.confidence.is_not(None), Answer.confidence == "low"),
        else_=sa.func.coalesce(Answer.best_score < threshold, False),
    )
    rated_down = sa.exists().where(Feedback.answer_id == Answer.id, Feedback.rating == -1)
    query = (
        sa.select(
            Answer.id,
            Answer.question,
            Answer.created_at,
            Answer.question_embedding,
            Answer.resolved_at,
            Answer.resolution_note,
            Answer.gap_id,
            not_answered.label("not_answered"),
            interrupted.label("interrupted"),
            low.label("low_confidence"),
            rated_down.label("rated_down"),
        )
        .where(
            Answer.is_demo == demo,
            Answer.in_figures,
            Answer.created_at >= start,
            Answer.created_at < end + timedelta(days=1),
            sa.or_(not_answered, interrupted, low, rated_down),
        )
        .order_by(Answer.created_at.desc(), Answer.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        _Flagged(
            id=r.id,
            question=r.question,
            created_at=r.created_at,
            embedding=None if r.question_embedding is None else np.asarray(r.question_embedding, np.float32),
            resolved_at=r.resolved_at,
            resolution_note=r.resolution_note,
            reasons=tuple(
                label
                for label, flag in (
                    ("not answered", r.not_answered),
                    ("interrupted", r.interrupted),
                    ("low confidence", r.low_confidence),
                    ("rated down", r.rated_down),
                )
                if flag
            ),
            gap_id=r.gap_id,
        )
        for r in rows
    ]


def _cluster(flagged: list[_Flagged], similarity: float) -> list[list[_Flagged]]:
    """Single-link groups: linked by cosine >= similarity, or by the same normalised wording."""
    parent = list(range(len(flagged)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    by_text: dict[str, int] = {}
    for i, f in enumerate(flagged):
        union(i, by_text.setdefault(normalise_question(f.question), i))
    # Vectors of different models (dimensions) cannot be compared: each size is linked on its own.
    by_size: dict[int, list[tuple[int, npt.NDArray[np.float32]]]] = {}
    for i, f in enumerate(flagged):
        if f.embedding is not None:
            by_size.setdefault(len(f.embedding), []).append((i, f.embedding))
    for embedded in by_size.values():
        indices = [i for i, _ in embedded]
        vectors = np.stack([v for _, v in embedded])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = vectors / np.where(norms == 0, 1, norms)
        for a, b in np.argwhere(np.triu(unit @ unit.T >= similarity, k=1)):
            union(indices[a], indices[b])
    clusters: dict[int, list[_Flagged]] = {}
    for i, f in enumerate(flagged):
        clusters.setdefault(find(i), []).append(f)
    return list(clusters.values())


def normalise_question(question: str) -> str:
    """Lower case, punctuation dropped, spaces collapsed: "Export to Excel?" == "export to excel"."""
    return " ".join(re.findall(r"\w+", question.lower()))


def _group(
    members: list[_Flagged], documents: dict[int, list[str]], gaps: dict[int, GapView]
) -> UnansweredGroup:
    members = sorted(members, key=lambda f: (f.created_at, f.id), reverse=True)  # most recent first
    wordings: dict[str, str] = {}
    for f in members:
        wordings.setdefault(normalise_question(f.question), f.question)
    titles = Counter(title for f in members for title in documents.get(f.id, []))
    resolved = [f for f in members if f.resolved_at is not None]
    latest = max(resolved, key=lambda f: f.resolved_at or f.created_at, default=None)
    present = {reason for f in members for reason in f.reasons}
    group = UnansweredGroup(
        key=min(f.id for f in members),
        answer_ids=sorted(f.id for f in members),
        count=len(members),
        first_seen=members[-1].created_at,
        last_seen=members[0].created_at,
        examples=list(wordings.values())[:MAX_EXAMPLES],
        reasons=[r for r in REASONS if r in present],
        closest_documents=[t for t, _ in sorted(titles.items(), key=lambda i: (-i[1], i[0]))][:MAX_DOCUMENTS],
        resolved=len(resolved) == len(members),
        resolution_note=latest.resolution_note if latest else None,
    )
    return _with_gap(group, _gap_of(members, gaps))


def _gap_of(members: list[_Flagged], gaps: dict[int, GapView]) -> GapView | None:
    """The gap most members point to (the newest on a tie), as `ensure_gap` picks it."""
    counts = Counter(f.gap_id for f in members if f.gap_id is not None and f.gap_id in gaps)
    if not counts:
        return None
    gap_id = max(counts, key=lambda i: (counts[i], i))
    return gaps[gap_id]


def _with_gap(group: UnansweredGroup, gap: GapView | None) -> UnansweredGroup:
    if gap is None:
        return group
    # New questions since the gap was resolved: the group needs work again.
    state: GapState = "open" if gap.state == "resolved" and not group.resolved else gap.state
    resolved_at = gap.resolved_at if gap.state == "resolved" else None
    return replace(
        group,
        state=state,
        gap_id=gap.id,
        title=gap.title,
        assignee=gap.assignee,
        due_on=gap.due_on,
        answered_document=gap.answered_document_title,
        answered_document_id=gap.answered_document_id,
        answered_at=gap.answered_at,
        proposed_answer=gap.answer_text,
        resolved_at=resolved_at,
        time_to_resolve=resolved_at - gap.first_seen if resolved_at else None,
    )


def _documents(engine: Engine, answer_ids: list[int]) -> dict[int, list[str]]:
    """Each answer's retrieved document titles, each title once per answer."""
    if not answer_ids:
        return {}
    query = (
        sa.select(AnswerSource.answer_id, AnswerSource.document_title)
        .where(AnswerSource.answer_id.in_(answer_ids))
        .group_by(AnswerSource.answer_id, AnswerSource.document_title)
    )
    titles: dict[int, list[str]] = {}
    with engine.connect() as conn:
        for answer_id, title in conn.execute(query):
            titles.setdefault(answer_id, []).append(title)
    return titles
