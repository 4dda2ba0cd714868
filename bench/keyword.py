"""The BM25 leg at 100,000 and 1,000,000 chunks, old statement against new: `python -m bench.keyword`.

Not a test. Starts a throwaway embedded PostgreSQL with the app's migrations and fills one
knowledge base with synthetic chunks, generated inside PostgreSQL: 60 words each, drawn from a
Zipf vocabulary (word of rank r with probability ~ 1/r, ranks 1..100,000), and in 5% of chunks a
rare code (`code0`..`code19999`). Vectors have 8 dimensions so the HNSW build stays short. The
questions are 3 to 8 words of rank >= 30 (the commonest words play the stop words' part), half of
them with a code. For each size it times the keyword leg alone (mode keyword) and the full hybrid
statement, the old one (bench/keyword_baseline.py: live document frequencies, candidates by a 5%
rule) beside the new one (lexeme_stats, a posting budget) at several budgets, on the same questions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.keyword_baseline import COMMON_FLOOR, COMMON_SHARE, baseline_query
from bench.retrieval_index import drop_index
from bench.throwaway import throwaway_server
from db.engine import make_engine
from db.migrate import upgrade
from rag.library.indexes import ensure_vector_index
from rag.library.knowledge_bases import KnowledgeBaseRef, open_knowledge_base
from rag.providers.embedder import EmbeddingBatch
from rag.retrieval.params import CANDIDATE_POSTINGS, RetrievalParams
from rag.retrieval.search import query_values, retrieval_query, set_scan

VOCABULARY = 100_000
WORDS_PER_CHUNK = 60
CODES = 20_000
CODE_SHARE = 0.05
DIMENSIONS = 8
BLOCK = 50_000
WARMUP = 10
CHUNKS_PER_DOCUMENT = 100

# One statement per block: every chunk's words from a correlated LATERAL (so random() runs per row),
# a vector of DIMENSIONS random floats, and one document per CHUNKS_PER_DOCUMENT chunks.
INSERT_CHUNKS = sa.text(
    "INSERT INTO chunks (id, document_id, knowledge_base_id, position, text, token_count, embedding) "
    "SELECT n, (n - 1) / :per + 1, :kb, (n - 1) % :per, w.text, :words, v.embedding "
    "FROM generate_series(:start, :stop - 1) AS n "
    "CROSS JOIN LATERAL (SELECT string_agg('w' || floor(exp(random() * ln(:vocab)))::int, ' ') "
    "|| CASE WHEN random() < :code_share THEN ' code' || floor(random() * :codes)::int ELSE '' END AS text "
    "FROM generate_series(1, :words) AS g WHERE n > 0) AS w "
    "CROSS JOIN LATERAL (SELECT array_agg((random() - 0.5)::real)::vector AS embedding "
    "FROM generate_series(1, :dims) AS g WHERE n > 0) AS v"
)
INSERT_DOCUMENTS = sa.text(
    "INSERT INTO documents (id, knowledge_base_id, title, filename, kind, content_hash, "
    "size_bytes, chunk_count, token_count, uploaded_by) "
    "SELECT n, :kb, 'Synthetic ' || n, 'synthetic-' || n || '.txt', 'txt', md5(n::text), 0, :per, 0, "
    "'bench' FROM generate_series(:first, :last) AS n"
)


class TinyEmbedder:
    """Stands in for a model when the knowledge base is opened: only its name and size matter."""

    provider = "bench"
    model = f"random-{DIMENSIONS}"
    dimensions = DIMENSIONS
    max_input_tokens = 10_000

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        raise NotImplementedError("the keyword benchmark stores its own vectors")


@dataclass(frozen=True)
class Timing:
    size: int
    statement: str  # "old" or "new (budget N)"
    mode: str  # keyword or hybrid
    queries: int
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class Agreement:
    size: int
    budget: int
    top10_overlap: float  # mean share of the old keyword top 10 the new one also returns


def questions(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ranks = np.floor(np.exp(rng.uniform(math.log(30), math.log(VOCABULARY), rng.integers(3, 9))))
        words = [f"w{int(r)}" for r in ranks]
        if rng.random() < 0.5:
            words.insert(int(rng.integers(0, len(words) + 1)), f"code{int(rng.integers(0, CODES))}")
        out.append(" ".join(words))
    return out


@contextmanager
def throwaway_database() -> Iterator[tuple[Engine, KnowledgeBaseRef]]:
    with throwaway_server("kc-bench-keyword-") as (url, _folder):
        engine = make_engine(url)
        try:
            upgrade(engine)
            kb = open_knowledge_base(engine, "bench", TinyEmbedder())  # type: ignore[arg-type]
            drop_index(engine, kb)
            yield engine, kb
        finally:
            engine.dispose()


def grow(engine: Engine, kb: KnowledgeBaseRef, have: int, size: int) -> float:
    """Add chunks have+1..size (full-text and vector indexes rebuilt after); returns seconds."""
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX IF EXISTS ix_chunks_tsv"))
    drop_index(engine, kb)
    for start in range(have + 1, size + 1, BLOCK):
        stop = min(start + BLOCK, size + 1)
        with engine.begin() as conn:
            first, last = (start - 1) // CHUNKS_PER_DOCUMENT + 1, (stop - 2) // CHUNKS_PER_DOCUMENT + 1
            conn.execute(
                INSERT_DOCUMENTS, {"kb": kb.id, "per": CHUNKS_PER_DOCUMENT, "first": first, "last": last}
            )
            conn.execute(
                INSERT_CHUNKS,
                {
                    "per": CHUNKS_PER_DOCUMENT,
                    "kb": kb.id,
                    "words": WORDS_PER_CHUNK,
                    "start": start,
                    "stop": stop,
                    "vocab": VOCABULARY,
                    "code_share": CODE_SHARE,
                    "codes": CODES,
                    "dims": DIMENSIONS,
                },
            )
        sys.stderr.write(f"\rloading to {size:,}: {stop - 1:,}")
    sys.stderr.write("\n")
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL maintenance_work_mem = '1GB'"))
        conn.execute(sa.text("CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv)"))
        ensure_vector_index(conn, kb)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("chunks", "documents", "lexeme_stats"):
            conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
    return time.perf_counter() - started


def run(
    engine: Engine,
    kb: KnowledgeBaseRef,
    statement: sa.TextClause,
    values: list[dict[str, object]],
    params: RetrievalParams,
) -> tuple[list[float], list[list[int]]]:
    """Each question's statement as `retrieve` runs it; returns seconds and the ranked chunk ids."""
    times, ids = [], []
    for i, v in enumerate([*values[:WARMUP], *values]):
        started = time.perf_counter()
        with engine.begin() as conn:
            set_scan(conn, kb, params)  # as retrieve
            rows = conn.execute(statement, v).all()
        if i >= WARMUP:
            times.append(time.perf_counter() - started)
            ids.append([r.id for r in rows])
    return times, ids


def timing(size: int, statement: str, mode: str, times: list[float]) -> Timing:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return Timing(size, statement, mode, len(ms), statistics.median(ms), p95)


def measure(
    engine: Engine, kb: KnowledgeBaseRef, size: int, texts: list[str], budgets: list[int], old: int
) -> tuple[list[Timing], list[Agreement]]:
    rng = np.random.default_rng(7)
    vectors = rng.uniform(-0.5, 0.5, size=(len(texts), DIMENSIONS)).astype(np.float32)
    timings, agreements = [], []
    for mode in ("keyword", "hybrid"):
        params = RetrievalParams(mode=mode, k=10)
        values = [query_values(kb, t, v, params) for t, v in zip(texts, vectors, strict=True)]
        extra = {"common": COMMON_SHARE, "common_floor": COMMON_FLOOR}
        old_times, old_ids = run(
            engine, kb, baseline_query(kb, mode), [{**v, **extra} for v in values[:old]], params
        )
        timings.append(timing(size, "old", mode, old_times))
        print(_line(timings[-1]), file=sys.stderr)
        for budget in budgets:
            budgeted = [{**v, "postings": budget} for v in values]
            new_times, new_ids = run(engine, kb, retrieval_query(kb, mode), budgeted, params)
            timings.append(timing(size, f"new ({budget:,})", mode, new_times))
            timings.append(timing(size, f"new ({budget:,}), first {old}", mode, new_times[:old]))
            print(_line(timings[-2]), file=sys.stderr)
            if mode == "keyword":
                overlap = [
                    len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(old_ids, new_ids, strict=False)
                ]
                agreements.append(Agreement(size, budget, statistics.fmean(overlap)))
    return timings, agreements


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keyword", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], metavar="N")
    parser.add_argument("--budgets", type=int, nargs="+", default=[CANDIDATE_POSTINGS, 5_000, 10_000])
    parser.add_argument("--queries", type=int, default=300, help="questions timed per new statement")
    parser.add_argument("--old-queries", type=int, default=100, help="of them, timed for the old statement")
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    texts = questions(args.queries, seed=1)
    loads: dict[int, float] = {}
    timings: list[Timing] = []
    agreements: list[Agreement] = []
    with throwaway_database() as (engine, kb):
        have = 0
        for size in sorted(set(args.sizes)):
            loads[size] = grow(engine, kb, have, size)
            have = size
            t, a = measure(engine, kb, size, texts, args.budgets, min(args.old_queries, args.queries))
            timings += t
            agreements += a
            print(report(loads, timings, agreements), file=sys.stderr)
        with engine.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    print(report(loads, timings, agreements))
    if args.json:
        out = {
            "cpus": os.cpu_count(),
            "postgres": version,
            "loads_seconds": loads,
            "timings": [asdict(t) for t in timings],
            "agreements": [asdict(a) for a in agreements],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


def report(loads: dict[int, float], timings: list[Timing], agreements: list[Agreement]) -> str:
    lines = [
        f"{'chunks':>10}  {'statement':<24} {'mode':<8} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} old/new p50"
    ]
    for t in timings:
        old = next((o for o in timings if (o.size, o.mode, o.statement) == (t.size, t.mode, "old")), None)
        ratio = f"{old.p50_ms / t.p50_ms:>10.1f}x" if old and t.statement != "old" else ""
        lines.append(_line(t) + f" {ratio}")
    lines += [
        f"keyword top 10 at {a.size:,}, budget {a.budget:,}: {a.top10_overlap:.3f} of the old"
        for a in agreements
    ]
    lines += [f"loaded to {size:,} in {seconds:.0f} s (with indexes)" for size, seconds in loads.items()]
    return "\n".join(lines)


def _line(t: Timing) -> str:
    return f"{t.size:>10,}  {t.statement:<24} {t.mode:<8} {t.queries:>4} {t.p50_ms:>8.1f} {t.p95_ms:>8.1f}"


if __name__ == "__main__":
    sys.exit(main())
