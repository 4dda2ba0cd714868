"""The gap loop: when documents arrive, ask the open groups again; mark those now answered.

A worker's periodic job (GAP_LOOP_SCHEDULE, every minute by default) calls `recheck_gaps`. When a
document of the knowledge base was added or replaced since the last check (a watermark kept in
gap_loop_state, not in memory), every open or assigned group of the last GAP_LOOP_DAYS days (the
biggest first, at most GAP_LOOP_MAX_REASKS) has its question asked again through the full pipeline,
as a re-ask by `system:gap-loop`: logged, costed, out of the answer figures, not held to per-user
limits (the maximum bounds it instead). A group whose question is now answered with high confidence,
citing a document that changed after the group's first question, moves to "answered" with that
document, for a person to confirm or reject (rag/analytics/gaps.py).

Two workers never run it at once for one knowledge base: a short transaction under
pg_try_advisory_xact_lock takes a lease (`running_until`) and the other skips; the watermark moves
only when a run ends, so a run that dies is redone once its lease expires. Running it again with no
new document does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rag.analytics.gaps import mark_answered
from rag.analytics.rollups import today
from rag.analytics.unanswered import UnansweredGroup, unanswered_groups
from rag.answer.pipeline import Answer, prepare, stream
from rag.console import Console
from rag.library.knowledge_bases import KnowledgeBaseRef

LOOP_USER = "system:gap-loop"
LOCK = 27493  # pg_try_advisory_xact_lock(LOCK, knowledge base): who takes the lease
LEASE = timedelta(minutes=15)

_CLAIM = sa.text("""
WITH state AS (
    INSERT INTO gap_loop_state AS s (knowledge_base_id) VALUES (:kb)
    ON CONFLICT (knowledge_base_id) DO UPDATE SET knowledge_base_id = s.knowledge_base_id
    RETURNING s.checked_through, s.running_until
)
SELECT state.checked_through, state.running_until > now() AS busy,
       (SELECT max(updated_at) FROM documents WHERE knowledge_base_id = :kb) AS newest
FROM state
""")


@dataclass(frozen=True)
class LoopReport:
    reasked: list[str] = field(default_factory=list)  # the questions asked again
    answered: list[int] = field(default_factory=list)  # gap ids now awaiting confirmation
    skipped: str | None = None  # why nothing was asked

    def __str__(self) -> str:
        if self.skipped:
            return f"gap loop: {self.skipped}"
        return f"gap loop: re-asked {len(self.reasked)} group(s), {len(self.answered)} now answered"


def recheck_gaps(console: Console, *, user: str = LOOP_USER) -> LoopReport:
    """Re-ask the open and assigned groups if documents changed since the last run (see above)."""
    engine, kb, settings = console.engine, console.kb, console.settings
    newest, skipped = _claim(engine, kb)
    if newest is None:
        return LoopReport(skipped=skipped)
    reasked: list[str] = []
    answered: list[int] = []
    try:
        day = today()
        groups = unanswered_groups(
            engine,
            start=day - timedelta(days=settings.gap_loop_days),
            end=day,
            demo=False,
            threshold=settings.min_relevance,
        )
        waiting = [g for g in groups if g.state in ("open", "assigned")][: settings.gap_loop_max_reasks]
        for group in waiting:
            result = _reask(console, group.question, user)
            reasked.append(group.question)
            gap_id = _answered_by_new_document(console, group, result)
            if gap_id is not None:
                answered.append(gap_id)
    except BaseException:
        _release(engine, kb, None, 0, 0)  # the next run tries again
        raise
    _release(engine, kb, newest, len(reasked), len(answered))
    return LoopReport(reasked, answered)


def _claim(engine: Engine, kb: KnowledgeBaseRef) -> tuple[datetime | None, str | None]:
    """The newest document change to check up to, with the lease taken; or None and why not."""
    with engine.begin() as conn:
        key = {"lock": LOCK, "kb": kb.id}
        if not conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:lock, :kb)"), key).scalar_one():
            return None, "another worker is checking"
        row = conn.execute(_CLAIM, {"kb": kb.id}).one()
        if row.busy:
            return None, "another worker is checking"
        if row.newest is None or (row.checked_through is not None and row.newest <= row.checked_through):
            return None, "no new documents"
        conn.execute(
            sa.text("UPDATE gap_loop_state SET running_until = now() + :lease WHERE knowledge_base_id = :kb"),
            {"lease": LEASE, "kb": kb.id},
        )
    newest: datetime = row.newest
    return newest, None


def _release(
    engine: Engine, kb: KnowledgeBaseRef, checked: datetime | None, reasked: int, answered: int
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE gap_loop_state SET running_until = NULL, last_run_at = now(), "
                "checked_through = coalesce(:checked, checked_through), "
                "last_reasked = :reasked, last_answered = :answered WHERE knowledge_base_id = :kb"
            ),
            {"checked": checked, "reasked": reasked, "answered": answered, "kb": kb.id},
        )


def _reask(console: Console, question: str, user: str) -> Answer:
    result = prepare(console, question, user=user, kind="reask", enforce_limits=False)
    for _ in stream(result):
        pass
    return result


def _answered_by_new_document(console: Console, group: UnansweredGroup, result: Answer) -> int | None:
    """Mark the group answered if `result` answers it from a document changed since it was first seen."""
    if not (result.answered and result.confidence == "high"):
        return None
    cited = sorted((p for p in result.passages if p.number in result.cited), key=lambda p: -p.score)
    ids = sorted({p.document_id for p in cited})
    with console.engine.connect() as conn:
        new = set(
            conn.execute(
                sa.text("SELECT id FROM documents WHERE id = ANY(:ids) AND updated_at > :seen"),
                {"ids": ids, "seen": group.first_seen},
            ).scalars()
        )
    top = next((p for p in cited if p.document_id in new), None)
    if top is None:
        return None
    return mark_answered(
        console.engine,
        group.answer_ids,
        document_id=top.document_id,
        document_title=top.document,
        answer_text=result.answer,
        reask_answer_id=result.answer_id,
    )
