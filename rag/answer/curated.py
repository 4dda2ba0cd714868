"""Curated answers: the right answer to a question, written by a knowledge manager, given first.

A knowledge manager writes the answer to a rated-down or unanswered question and names the
documents it rests on. A question asked without history whose embedding is at least
CURATED_SIMILARITY (cosine) from a curated question, or with the same normalised wording, gets that
answer before the answer cache and retrieval are consulted; it is logged as an answer citing those
documents (answers.curated_answer_id says which curated answer it was).

Validity is checked in the lookup statement itself, as the cache's is: every cited document must
still exist with the content it had when the answer was written. A lookup that finds one replaced
or deleted marks that curated answer invalidated (with the reason) in the same statement, and it is
never given again; the question then goes on to the cache and retrieval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.engine import Connection, Engine

from db.models import CuratedAnswer, Document, Gap
from rag.answer.cache import normalise_question
from rag.auth.audit import record_action
from rag.console import Console
from rag.errors import InvalidInput
from rag.library.knowledge_bases import KnowledgeBaseRef
from rag.retrieval.passage import Passage
from rag.retrieval.search import format_location

MAX_ANSWER_CHARS = 8000

# Every cited document still there with the content it had. `c` is the curated answer.
_VALID = """
    (SELECT count(*) FROM documents AS d
     JOIN unnest(c.document_ids, c.document_hashes) AS v(id, hash)
       ON d.id = v.id AND d.content_hash = v.hash) = cardinality(c.document_ids)
"""
_REASON = """
    CASE WHEN (SELECT count(*) FROM documents AS d WHERE d.id = ANY(c.document_ids))
              < cardinality(c.document_ids)
         THEN 'a cited document was deleted' ELSE 'a cited document was replaced' END
"""
_MARK_STALE = f"""
UPDATE curated_answers AS c SET invalidated_at = now(), invalidated_reason = {_REASON}
WHERE c.knowledge_base_id = :kb AND c.invalidated_at IS NULL AND NOT ({_VALID})
"""
_DISTANCE = "(c.question_embedding <=> :q)"
_LOOKUP = sa.text(f"""
WITH stale AS ({_MARK_STALE} RETURNING c.id),
pick AS (
    SELECT c.id, 1 - {_DISTANCE} AS similarity
    FROM curated_answers AS c
    WHERE c.knowledge_base_id = :kb AND NOT c.is_demo AND c.invalidated_at IS NULL AND {_VALID}
      AND (c.question_key = :key
           OR (c.question_embedding IS NOT NULL AND vector_dims(c.question_embedding) = :dims
               AND 1 - {_DISTANCE} >= :threshold))
    ORDER BY c.question_key = :key DESC, {_DISTANCE} NULLS LAST, c.id DESC
    LIMIT 1
)
UPDATE curated_answers AS e SET hits = e.hits + 1, last_hit_at = now()
FROM pick WHERE e.id = pick.id
RETURNING e.id, e.question, e.answer, e.author, e.created_at, e.document_ids, pick.similarity
""").bindparams(sa.bindparam("q", type_=VECTOR()))
# Per cited document, its passage nearest to the question (the first, without a vector).
_PASSAGES = sa.text("""
SELECT DISTINCT ON (k.document_id) k.id, k.document_id, d.title, k.page_start, k.page_end, k.heading,
       k.text, coalesce(1 - (k.embedding <=> :q), 1.0) AS score
FROM chunks AS k JOIN documents AS d ON d.id = k.document_id
WHERE k.document_id = ANY(:ids) AND (CAST(:q AS vector) IS NULL OR vector_dims(k.embedding) = :dims)
ORDER BY k.document_id, k.embedding <=> :q, k.position
""").bindparams(sa.bindparam("q", type_=VECTOR()))
# Cached answers to the same or a similar question would be given before the curated one.
_FORGET_CACHED = sa.text("""
DELETE FROM answer_cache AS c
WHERE c.knowledge_base_id = :kb
  AND (c.question_key = :key
       OR (CAST(:q AS vector) IS NOT NULL AND c.question_embedding IS NOT NULL
           AND vector_dims(c.question_embedding) = :dims AND 1 - (c.question_embedding <=> :q) >= :threshold))
""").bindparams(sa.bindparam("q", type_=VECTOR()))


@dataclass(frozen=True)
class CuratedHit:
    """A curated answer given to a question."""

    id: int
    question: str  # the curated question it matched
    answer: str
    author: str
    created_at: datetime
    document_ids: list[int]  # cited as [1], [2]... in this order
    similarity: float | None


@dataclass(frozen=True)
class CuratedSummary:
    id: int
    question: str
    answer: str
    author: str
    created_at: datetime
    document_ids: list[int]
    document_titles: list[str]
    hits: int
    last_hit_at: datetime | None
    invalidated_at: datetime | None
    invalidated_reason: str | None
    source_answer_id: int | None
    gap_id: int | None


def write_curated_answer(
    console: Console,
    *,
    question: str,
    answer: str,
    document_ids: Sequence[int],
    author: str,
    source_answer_id: int | None = None,
    gap_id: int | None = None,
) -> int:
    """Store the right answer to `question`, citing `document_ids` ([1], [2]... in that order).

    The documents must be in the console's knowledge base; their content now is what the answer
    stays valid for. Cached answers to the same or a similar question are forgotten. With a
    `gap_id`, that gap is resolved by it. Audited; returns the curated answer's id.
    """
    question, answer = " ".join(question.split()), answer.strip()
    ids = list(dict.fromkeys(document_ids))
    if not question or not answer:
        raise InvalidInput("Write both the question and its answer.")
    if len(answer) > MAX_ANSWER_CHARS:
        raise InvalidInput(
            f"The answer is {len(answer):,} characters long; the limit is {MAX_ANSWER_CHARS:,}."
        )
    if not ids:
        raise InvalidInput("Cite at least one document the answer rests on.")
    vector = console.embedder.embed([question]).vectors[0]
    kb, threshold = console.kb, console.settings.curated_similarity
    with console.engine.begin() as conn:
        documents = _documents(conn, kb, ids)
        curated_id: int = conn.execute(
            sa.insert(CuratedAnswer)
            .values(
                knowledge_base_id=kb.id,
                question=question,
                question_key=normalise_question(question),
                question_embedding=vector.tolist(),
                answer=answer,
                document_ids=ids,
                document_titles=[d.title for d in documents],
                document_hashes=[d.content_hash for d in documents],
                document_versions=[d.version for d in documents],
                author=author,
                source_answer_id=source_answer_id,
                gap_id=gap_id,
            )
            .returning(CuratedAnswer.id)
        ).scalar_one()
        conn.execute(
            _FORGET_CACHED,
            {
                "kb": kb.id,
                "key": normalise_question(question),
                "q": vector,
                "dims": len(vector),
                "threshold": threshold if threshold is not None else 1.0,
            },
        )
        if gap_id is not None:
            _resolve_gap(conn, gap_id, user=author, note=f"Curated answer #{curated_id}")
        record_action(
            conn,
            actor=author,
            action="curated_answer_written",
            target=question[:200],
            curated_answer_id=curated_id,
            documents=[d.filename for d in documents],
            knowledge_base=kb.name,
        )
    return curated_id


def find_curated(
    engine: Engine,
    kb: KnowledgeBaseRef,
    question: str,
    vector: npt.NDArray[np.float32] | None,
    *,
    threshold: float,
) -> CuratedHit | None:
    """The valid curated answer for this wording or the nearest similar question, counted as a hit.

    Marks the knowledge base's curated answers whose documents changed as invalidated, in the same
    statement. None when there is none.
    """
    params = {
        "kb": kb.id,
        "key": normalise_question(question),
        "q": vector,
        "dims": 0 if vector is None else len(vector),
        "threshold": threshold,
    }
    with engine.begin() as conn:
        row = conn.execute(_LOOKUP, params).first()
    if row is None:
        return None
    return CuratedHit(
        row.id, row.question, row.answer, row.author, row.created_at, list(row.document_ids), row.similarity
    )


def curated_passages(
    engine: Engine, hit: CuratedHit, vector: npt.NDArray[np.float32] | None
) -> list[Passage]:
    """The curated answer's sources: per cited document, its passage nearest to the question."""
    params = {"ids": hit.document_ids, "q": vector, "dims": 0 if vector is None else len(vector)}
    with engine.connect() as conn:
        rows = {r.document_id: r for r in conn.execute(_PASSAGES, params)}
    passages: list[Passage] = []
    for document_id in hit.document_ids:
        r = rows.get(document_id)
        if r is not None:
            location = format_location(r.page_start, r.page_end, None if r.heading == r.title else r.heading)
            passages.append(
                Passage(len(passages) + 1, r.id, document_id, r.title, location, r.text, float(r.score))
            )
    return passages


def invalidate_stale(engine: Engine, kb: KnowledgeBaseRef) -> int:
    """Mark the curated answers whose cited documents changed; returns how many."""
    with engine.begin() as conn:
        return int(conn.execute(sa.text(_MARK_STALE), {"kb": kb.id}).rowcount)


def withdraw_curated_answer(engine: Engine, kb: KnowledgeBaseRef, curated_id: int, *, user: str) -> bool:
    """Stop giving a curated answer; False if it was not valid. Audited."""
    with engine.begin() as conn:
        question = conn.execute(
            sa.update(CuratedAnswer)
            .where(
                CuratedAnswer.id == curated_id,
                CuratedAnswer.knowledge_base_id == kb.id,
                CuratedAnswer.invalidated_at.is_(None),
            )
            .values(invalidated_at=sa.func.now(), invalidated_reason=f"withdrawn by {user}")
            .returning(CuratedAnswer.question)
        ).scalar_one_or_none()
        if question is not None:
            record_action(
                conn,
                actor=user,
                action="curated_answer_withdrawn",
                target=question[:200],
                curated_answer_id=curated_id,
                knowledge_base=kb.name,
            )
    return question is not None


def list_curated_answers(
    engine: Engine, kb: KnowledgeBaseRef, *, demo: bool = False, include_invalid: bool = True
) -> list[CuratedSummary]:
    """The knowledge base's curated answers, newest first, after marking the stale ones."""
    invalidate_stale(engine, kb)
    c = CuratedAnswer
    query = (
        sa.select(
            c.id,
            c.question,
            c.answer,
            c.author,
            c.created_at,
            c.document_ids,
            c.document_titles,
            c.hits,
            c.last_hit_at,
            c.invalidated_at,
            c.invalidated_reason,
            c.source_answer_id,
            c.gap_id,
        )
        .where(c.knowledge_base_id == kb.id, c.is_demo == demo)
        .order_by(c.created_at.desc(), c.id.desc())
    )
    if not include_invalid:
        query = query.where(c.invalidated_at.is_(None))
    with engine.connect() as conn:
        return [CuratedSummary(**r._mapping) for r in conn.execute(query)]


def _documents(
    conn: Connection, kb: KnowledgeBaseRef, ids: list[int]
) -> list[sa.Row[tuple[str, str, str, int]]]:
    rows = conn.execute(
        sa.select(
            Document.id, Document.title, Document.filename, Document.content_hash, Document.version
        ).where(Document.id.in_(ids), Document.knowledge_base_id == kb.id)
    ).all()
    found = {r.id: r for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(f"Document {missing[0]} is not in the knowledge base '{kb.name}'.")
    return [found[i] for i in ids]  # type: ignore[misc]


def _resolve_gap(conn: Connection, gap_id: int, *, user: str, note: str) -> None:
    conn.execute(
        sa.update(Gap)
        .where(Gap.id == gap_id)
        .values(
            state="resolved", resolved_at=sa.func.now(), resolved_by=user, note=note, updated_at=sa.func.now()
        )
    )
    conn.execute(
        sa.text(
            "UPDATE answers SET resolved_at = now(), resolved_by = :user, resolution_note = :note "
            "WHERE gap_id = :gap AND resolved_at IS NULL"
        ),
        {"user": user, "note": note, "gap": gap_id},
    )
