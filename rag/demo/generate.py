"""Adding and removing demo traffic: the traffic in one transaction, then its upkeep (rag/demo/upkeep.py)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rag.analytics.rollups import invalidate_rollups
from rag.console import Console
from rag.demo.catalog import build_catalog, embed_variants
from rag.demo.copy_rows import prepare, write_batch, write_ingest_calls
from rag.demo.upkeep import add_demo_upkeep, remove_demo_upkeep

BATCH = 10_000


@dataclass(frozen=True)
class DemoSummary:
    answers: int
    conversations: int
    sources: int
    model_calls: int
    feedback: int
    already_there: int  # demo answers before this run
    seed: int
    seconds: float
    gaps: int = 0  # unanswered groups given a state (assigned, answered, resolved)
    curated: int = 0  # demo answers given the demo curated answer
    review_dates: int = 0  # real documents whose review date the demo moved


@dataclass(frozen=True)
class RemovedRows:
    answers: int
    sources: int
    feedback: int
    model_calls: int
    conversations: int
    gaps: int = 0
    curated_answers: int = 0
    review_dates: int = 0  # put back to their default


def generate_demo_data(
    console: Console,
    *,
    days: int,
    answers: int,
    seed: int | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Add `answers` demo answers spread over the `days` before `now`, all in one transaction."""
    if days < 1 or answers < 1:
        raise ValueError("days and answers must be at least 1")
    started = time.perf_counter()
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    rng = np.random.default_rng(seed)
    now = now or datetime.now(UTC)
    end = now.timestamp()
    window = (end - days * 86_400, end)
    vectors = embed_variants(console.embedder)
    with console.engine.begin() as conn:
        already: int = conn.execute(sa.text("SELECT count(*) FROM answers WHERE is_demo")).scalar_one()
        catalog = build_catalog(conn, console, vectors, rng)
        driver = conn.connection.driver_connection
        assert driver is not None  # an open connection always has one
        cursor = driver.cursor()
        prepare(cursor, vectors)
        totals = np.zeros(5, dtype=np.int64)
        while totals[0] < answers:
            n = min(BATCH, answers - int(totals[0]))
            totals += write_batch(cursor, rng, n, window, catalog, console)
            if progress:
                progress(int(totals[0]), answers)
        totals[3] += write_ingest_calls(cursor, rng, window, catalog, console.settings.prices)
        invalidate_rollups(conn, demo=True)  # past days changed
    upkeep = add_demo_upkeep(console, days=days, now=now)
    a, c, s, m, f = (int(x) for x in totals)
    return DemoSummary(
        a,
        c,
        s,
        m,
        f,
        already,
        seed,
        time.perf_counter() - started,
        upkeep.gaps,
        upkeep.curated,
        upkeep.review_dates,
    )


def remove_demo_data(engine: Engine) -> RemovedRows:
    """Delete every demo row in one transaction; real rows are never touched."""
    demo_answers = "SELECT id FROM answers WHERE is_demo"
    with engine.begin() as conn:

        def delete(sql: str) -> int:
            return int(conn.execute(sa.text(sql)).rowcount)

        # Children first: one join instead of a cascade row by row.
        feedback = delete(f"DELETE FROM feedback WHERE answer_id IN ({demo_answers})")
        sources = delete(f"DELETE FROM answer_sources WHERE answer_id IN ({demo_answers})")
        calls = delete("DELETE FROM model_calls WHERE is_demo")
        answers = delete("DELETE FROM answers WHERE is_demo")
        gaps, curated, review_dates = remove_demo_upkeep(conn)
        conversations = delete(
            "DELETE FROM conversations c WHERE c.user_name LIKE 'demo:%' AND c.title LIKE '[demo] %' "
            "AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.conversation_id = c.id)"
        )
        invalidate_rollups(conn, demo=True)
    return RemovedRows(answers, sources, feedback, calls, conversations, gaps, curated, review_dates)
