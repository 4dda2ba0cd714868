"""The answer cache: a question asked again by the same user is answered without the model.

An entry belongs to one knowledge base, one user (users may come to see different documents) and
one normalised question, and to the chat model that wrote it. Only questions asked without
conversation history are cached: a follow-up's meaning depends on the turns before it. A hit is
an exact match of the normalised question or, when ANSWER_CACHE_SIMILARITY is set, the user's entry
whose question embedding is nearest, at or above that cosine similarity.

Validity is checked when the entry is read, in the same statement, so it holds whatever runs
concurrently: every chunk the answer was built from must still exist and every document it drew on
must be at the version it had. Replacing a document deletes its chunks, deleting one cascades to
them, so either ends the entry. An entry is written only if those chunks still exist when it is.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.engine import Engine

from rag.library.knowledge_bases import KnowledgeBaseRef
from rag.retrieval.passage import Passage
from rag.usage.calls import CallRecord
from rag.usage.pricing import Price

_TRAILING = re.compile(r"[\s?!.。？！…,;:]+$")

# Every chunk still there, every document at its recorded version. `c` is the entry.
_VALID = """
    (SELECT count(*) FROM chunks AS k WHERE k.id = ANY(c.chunk_ids)) = cardinality(c.chunk_ids)
    AND (SELECT count(*) FROM documents AS d
         JOIN unnest(c.document_ids, c.document_versions) AS v(id, version)
           ON d.id = v.id AND d.version = v.version) = cardinality(c.document_ids)
"""
_SCOPE = """
    c.knowledge_base_id = :kb AND c.user_name = :user AND c.model = :model
    AND c.created_at > now() - interval '1 hour' * :ttl_hours
"""
_HIT = """
UPDATE answer_cache AS e SET hits = e.hits + 1, last_hit_at = now()
WHERE e.id = ({pick})
RETURNING e.id, e.answer_id, e.answer, e.passages, e.cited, e.chunk_ids, e.cost_usd, e.created_at,
          {similarity} AS similarity
"""
# The question's embedding, of any dimension; None is NULL.
_QUESTION_VECTOR = sa.bindparam("q", type_=VECTOR())
_EXACT = sa.text(
    _HIT.format(
        pick=f"SELECT c.id FROM answer_cache AS c WHERE {_SCOPE} AND c.question_key = :key AND {_VALID}",
        similarity="NULL::float8",
    )
)
_DISTANCE = "(c.question_embedding <=> :q)"
_SIMILAR = sa.text(
    _HIT.format(
        pick=f"""SELECT c.id FROM answer_cache AS c
                 WHERE {_SCOPE} AND c.question_embedding IS NOT NULL
                   AND vector_dims(c.question_embedding) = :dims
                   AND 1 - {_DISTANCE} >= :threshold AND {_VALID}
                 ORDER BY {_DISTANCE} LIMIT 1""",
        similarity="1 - (e.question_embedding <=> :q)",
    )
).bindparams(_QUESTION_VECTOR)
# The original answer's cost is read from its log row; nothing is written if a chunk is already gone.
_STORE = sa.text("""
INSERT INTO answer_cache (knowledge_base_id, user_name, question_key, question_embedding, answer_id, model,
                          answer, passages, cited, chunk_ids, document_ids, document_versions, cost_usd)
SELECT :kb, :user, :key, :q, a.id, :model, :answer, CAST(:passages AS jsonb),
       CAST(:cited AS integer[]), CAST(:chunk_ids AS bigint[]), d.ids, d.versions, a.cost_usd
FROM answers AS a,
     LATERAL (SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids,
                     coalesce(array_agg(version ORDER BY id), '{}') AS versions
              FROM documents WHERE id = ANY(CAST(:document_ids AS integer[]))) AS d
WHERE a.id = :answer_id
  AND cardinality(d.ids) = :documents
  AND (SELECT count(*) FROM chunks WHERE id = ANY(CAST(:chunk_ids AS bigint[]))) = :chunks
ON CONFLICT (knowledge_base_id, user_name, question_key) DO UPDATE SET
    question_embedding = EXCLUDED.question_embedding, answer_id = EXCLUDED.answer_id,
    model = EXCLUDED.model, answer = EXCLUDED.answer, passages = EXCLUDED.passages,
    cited = EXCLUDED.cited, chunk_ids = EXCLUDED.chunk_ids, document_ids = EXCLUDED.document_ids,
    document_versions = EXCLUDED.document_versions, cost_usd = EXCLUDED.cost_usd,
    hits = 0, last_hit_at = NULL, created_at = now()
RETURNING id
""").bindparams(_QUESTION_VECTOR)


@dataclass(frozen=True)
class CacheScope:
    """Whose entries a lookup may see, and which are still fresh."""

    kb: KnowledgeBaseRef
    user: str
    model: str  # the chat model now configured: another model's answers are not reused
    ttl_hours: float


@dataclass(frozen=True)
class CachedAnswer:
    entry_id: int
    answer_id: int  # the answer it repeats
    answer: str
    passages: list[Passage]
    cited: set[int]
    used_chunk_ids: set[int]  # the passages the answer was built from
    cost_usd: Decimal | None  # what the original answer cost; None if unknown
    created_at: datetime
    similarity: float | None  # None: an exact match


def normalise_question(question: str) -> str:
    """The cache key: Unicode-compatible, case-folded, single-spaced, without trailing punctuation."""
    text = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    return _TRAILING.sub("", text)


def find_exact(engine: Engine, scope: CacheScope, question: str) -> CachedAnswer | None:
    """The valid entry for this exact (normalised) question, counted as a hit; None on a miss."""
    return _hit(engine, _EXACT, scope, key=normalise_question(question))


def find_similar(
    engine: Engine, scope: CacheScope, vector: npt.NDArray[np.float32], *, threshold: float
) -> CachedAnswer | None:
    """The valid entry whose question is nearest to `vector`, if its cosine is >= threshold."""
    return _hit(engine, _SIMILAR, scope, q=vector, dims=len(vector), threshold=threshold)


def remember(
    engine: Engine,
    scope: CacheScope,
    *,
    question: str,
    vector: list[float] | None,
    answer_id: int,
    answer: str,
    passages: list[Passage],
    cited: set[int],
    used: list[Passage],
) -> bool:
    """Store a logged answer for its question; False when a passage it used has already changed."""
    chunk_ids = sorted({p.chunk_id for p in used})
    document_ids = sorted({p.document_id for p in used})
    values = {
        "kb": scope.kb.id,
        "user": scope.user,
        "key": normalise_question(question),
        "q": vector,
        "answer_id": answer_id,
        "model": scope.model,
        "answer": answer,
        "passages": json.dumps([_passage_json(p) for p in passages]),
        "cited": sorted(cited),
        "chunk_ids": chunk_ids,
        "chunks": len(chunk_ids),
        "document_ids": document_ids,
        "documents": len(document_ids),
    }
    with engine.begin() as conn:
        return conn.execute(_STORE, values).first() is not None


def saved_usd(hit: CachedAnswer, calls: list[CallRecord], prices: dict[str, Price]) -> Decimal | None:
    """What the hit saved: the original answer's cost less what the hit itself cost (unknown stays None)."""
    costs = [c.cost(prices) for c in calls]
    if hit.cost_usd is None or None in costs:
        return None
    return hit.cost_usd - sum((c for c in costs if c is not None), Decimal(0))


def _hit(engine: Engine, sql: sa.TextClause, scope: CacheScope, **params: object) -> CachedAnswer | None:
    values = {"kb": scope.kb.id, "user": scope.user, "model": scope.model, "ttl_hours": scope.ttl_hours}
    with engine.begin() as conn:
        row = conn.execute(sql, values | params).first()
    if row is None:
        return None
    return CachedAnswer(
        entry_id=row.id,
        answer_id=row.answer_id,
        answer=row.answer,
        passages=[Passage(**p) for p in row.passages],
        cited=set(row.cited),
        used_chunk_ids=set(row.chunk_ids),
        cost_usd=row.cost_usd,
        created_at=row.created_at,
        similarity=row.similarity,
    )


def _passage_json(p: Passage) -> dict[str, object]:
    return {
        "number": p.number,
        "chunk_id": p.chunk_id,
        "document_id": p.document_id,
        "document": p.document,
        "location": p.location,
        "text": p.text,
        "score": p.score,
    }
