"""The upload log: one row per file offered for ingestion, whatever became of it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.models import IngestionEvent
from rag.library.knowledge_bases import KnowledgeBaseRef


def record_ingestion_event(engine: Engine, kb: KnowledgeBaseRef, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(IngestionEvent).values(knowledge_base_id=kb.id, **values))


def recent_ingestion_events(
    engine: Engine, kb: KnowledgeBaseRef, *, limit: int = 50
) -> list[dict[str, object]]:
    query = (
        sa.select(
            IngestionEvent.created_at,
            IngestionEvent.filename,
            IngestionEvent.outcome,
            IngestionEvent.reason,
            IngestionEvent.chunk_count,
            IngestionEvent.token_count,
            IngestionEvent.duration_ms,
            IngestionEvent.uploaded_by,
        )
        .where(IngestionEvent.knowledge_base_id == kb.id)
        .order_by(IngestionEvent.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
