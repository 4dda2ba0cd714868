"""The chat's retrieval query at 10,000 to 1,000,000 chunks: `python -m bench.retrieval`.

Not a test. Starts a throwaway embedded PostgreSQL with the app's migrations, bulk-loads SciFact's
chunks (embedded once by the local model, cached under data/bench/) grown with noisy copies to
each size, builds the knowledge base's HNSW index as the app does (or with other graph parameters,
`--m` / `--ef-construction`, one graph after the other), then times `rag.retrieval.search.retrieve`
for SciFact's queries: the vector leg alone (mode dense, k 10) for each `hnsw.ef_search`, with its
recall@10 against exact search (and what re-ranking the leg's `depth` candidates by their exact
scores would give), and the full hybrid query the chat runs. Exact search in numpy over the same
vectors is the floor to beat and the ground truth; exact search over the vectors rounded to halfvec
is the ceiling of a halfvec index. Sizes share one database and nest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.retrieval_corpus import RealCorpus, Vectors, load_real_corpus
from bench.retrieval_index import IndexBuild, build_index, drop_index
from bench.retrieval_load import load_rows
from bench.throwaway import throwaway_server
from db.engine import make_engine
from db.migrate import upgrade
from rag.library.indexes import HNSW_EF_CONSTRUCTION, HNSW_M, INDEX_TYPES, index_name
from rag.library.knowledge_bases import KnowledgeBaseRef, open_knowledge_base
from rag.providers.local_embedder import LocalEmbedder
from rag.retrieval.params import RetrievalParams
from rag.retrieval.search import query_plan, retrieve, set_scan

K = 10
WARMUP = 20  # queries run before timing, so the index is read from memory as in a busy console
GOAL_P50_MS = 5.0
GOAL_RECALL = 0.95
EF_SEARCH = [40, 64, 100, 128, 160, 200]


@dataclass(frozen=True)
class Timing:
    size: int
    index_type: str  # "exact" for numpy
    query: str  # "numpy exact", "vector leg", "hybrid"
    ef_search: int | None
    queries: int
    p50_ms: float
    p95_ms: float
    recall_at_10: float | None
    uses_index: bool | None = None  # the plan of the chat's statement reads the HNSW index
    m: int | None = None  # the graph searched (None for numpy)
    ef_construction: int | None = None
    # recall@10 of the leg's `depth` candidates re-ranked by their exact (full-precision) scores
    recall_reranked: float | None = None


@dataclass(frozen=True)
class Load:
    size: int
    added: int
    seconds: float  # binary COPY plus VACUUM ANALYZE
    table_mb: float


def exact_search(matrix: Vectors, queries: Vectors, size: int) -> tuple[Timing, list[set[int]]]:
    """Brute force in numpy, one query at a time as the chat asks them; returns chunk ids (row + 1)."""
    times, truth = [], []
    for q in queries:
        started = time.perf_counter()
        scores = matrix @ q
        top = np.argpartition(-scores, K)[:K]
        top = top[np.argsort(-scores[top])]
        times.append(time.perf_counter() - started)
        truth.append({int(i) + 1 for i in top})
    return _timing(size, "exact", "numpy exact", None, times, None), truth


def halfvec_exact_recall(matrix: Vectors, queries: Vectors, truth: list[set[int]], size: int) -> Timing:
    """Exact search over the vectors rounded to halfvec: the recall@10 a perfect halfvec index reaches."""
    half = matrix.astype(np.float16).astype(np.float32)
    norms = np.linalg.norm(half, axis=1)
    times, recalls = [], []
    for q, true in zip(queries, truth, strict=True):
        started = time.perf_counter()
        scores = (half @ q.astype(np.float16).astype(np.float32)) / norms
        top = np.argpartition(-scores, K)[:K]
        times.append(time.perf_counter() - started)
        recalls.append(len({int(i) + 1 for i in top} & true) / K)
    return _timing(size, "halfvec", "numpy exact", None, times, statistics.fmean(recalls))


def time_retrieval(
    engine: Engine,
    kb: KnowledgeBaseRef,
    corpus: RealCorpus,
    params: RetrievalParams,
    truth: list[set[int]] | None,
    size: int,
    limit: int,
) -> Timing:
    """`retrieve` for each query (after a warm-up), as the chat calls it, with recall@10 if `truth`.

    With `truth`, an untimed second pass asks for all `depth` candidates of the leg and ranks them
    by their exact scores: the recall an exact re-rank of the index's candidates would reach.
    """
    pairs = list(zip(corpus.queries, corpus.query_vectors, strict=True))[:limit]
    for text, vector in pairs[: min(WARMUP, len(pairs) // 5)]:
        retrieve(engine, kb, [text], vector[None, :], params)
    times, recalls = [], []
    for i, (text, vector) in enumerate(pairs):
        started = time.perf_counter()
        passages = retrieve(engine, kb, [text], vector[None, :], params)
        times.append(time.perf_counter() - started)
        if truth is not None:
            recalls.append(len({p.chunk_id for p in passages} & truth[i]) / K)
    name = "vector leg" if params.mode == "dense" else params.mode
    recall = statistics.fmean(recalls) if recalls else None
    timing = _timing(size, kb.index_type, name, params.ef_search, times, recall)
    reranked = None
    if truth is not None:
        deep = replace(params, k=params.depth)
        reranked = statistics.fmean(
            len(
                {
                    p.chunk_id
                    for p in sorted(
                        retrieve(engine, kb, [text], vector[None, :], deep), key=lambda p: -p.score
                    )[:K]
                }
                & truth[i]
            )
            / K
            for i, (text, vector) in enumerate(pairs)
        )
    return replace(
        timing,
        uses_index=uses_index(engine, kb, pairs[0][0], pairs[0][1], params),
        recall_reranked=reranked,
    )


def uses_index(
    engine: Engine, kb: KnowledgeBaseRef, text: str, vector: Vectors, params: RetrievalParams
) -> bool:
    """Whether PostgreSQL plans the chat's statement with the knowledge base's HNSW index."""
    with engine.begin() as conn:
        set_scan(conn, kb, params)  # as retrieve
        return any(index_name(kb.id) in line for line in query_plan(conn, kb, text, vector, params))


def _timing(
    size: int, index_type: str, query: str, ef: int | None, times: list[float], recall: float | None
) -> Timing:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return Timing(size, index_type, query, ef, len(ms), statistics.median(ms), p95, recall)


@contextmanager
def throwaway_database() -> Iterator[tuple[Engine, KnowledgeBaseRef]]:
    """A fresh embedded PostgreSQL (deleted afterwards) migrated to head, with an empty knowledge base."""
    with throwaway_server("kc-bench-retrieval-") as (url, _folder):
        engine = make_engine(url)
        try:
            upgrade(engine)
            kb = open_knowledge_base(engine, "bench", LocalEmbedder())
            # Indexes are built *after* the bulk load, as pgvector recommends; the benchmark times it.
            drop_index(engine, kb)
            yield engine, kb
        finally:
            engine.dispose()


def grow(
    engine: Engine, kb: KnowledgeBaseRef, corpus: RealCorpus, have: int, size: int, noise: float
) -> tuple[Load, Vectors]:
    started = time.perf_counter()

    def show(done: int) -> None:
        sys.stderr.write(f"\rloading to {size:,} chunks: {done:,}")
        sys.stderr.flush()

    vectors = load_rows(engine, kb, corpus, have, size, noise=noise, progress=show)
    sys.stderr.write("\n")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE chunks"))
        conn.execute(sa.text("VACUUM ANALYZE documents"))
        table = conn.execute(sa.text("SELECT pg_total_relation_size('chunks')")).scalar_one()
    return Load(size, size - have, time.perf_counter() - started, table / 2**20), vectors


def table(loads: list[Load], builds: list[IndexBuild], timings: list[Timing]) -> str:
    head = ("chunks", "index", "m/efc", "query", "ef_search", "p50 ms", "p95 ms", "recall@10", "reranked")
    lines = ["{:>10}  {:<8} {:<7} {:<12} {:>9} {:>8} {:>8} {:>9} {:>9}".format(*head)]
    for t in timings:
        ef = "" if t.ef_search is None else str(t.ef_search)
        graph = "" if t.m is None else f"{t.m}/{t.ef_construction}"
        recall = "" if t.recall_at_10 is None else f"{t.recall_at_10:.3f}"
        reranked = "" if t.recall_reranked is None else f"{t.recall_reranked:.3f}"
        lines.append(
            f"{t.size:>10,}  {t.index_type:<8} {graph:<7} {t.query:<12} {ef:>9} "
            f"{t.p50_ms:>8.2f} {t.p95_ms:>8.2f} {recall:>9} {reranked:>9}"
            f"{'  (no index scan)' if t.uses_index is False else ''}"
        )
    lines.append("")
    lines += [
        f"loaded {lo.added:,} chunks to {lo.size:,} in {lo.seconds:.1f} s (table {lo.table_mb:,.0f} MB)"
        for lo in loads
    ]
    lines += [
        f"index {b.index_type} m {b.m} ef_construction {b.ef_construction} at {b.size:,}: "
        f"{b.seconds:.1f} s, {b.index_mb:,.0f} MB, maintenance_work_mem "
        f"{b.maintenance_work_mem}, {b.workers} workers, server peak {b.server_peak_mb:,.0f} MB "
        f"(+{b.server_peak_mb - b.server_before_mb:,.0f}), "
        f"{'graph built in memory' if b.fit_in_memory else 'spilled: ' + ' '.join(b.notices)}"
        for b in builds
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], metavar="N")
    parser.add_argument("--ef-search", type=int, nargs="+", default=EF_SEARCH, metavar="EF")
    parser.add_argument("--index-types", nargs="+", choices=INDEX_TYPES, default=list(INDEX_TYPES))
    parser.add_argument(
        "--m", type=int, nargs="+", default=[HNSW_M], help="HNSW m of each graph (default: the app's)"
    )
    parser.add_argument(
        "--ef-construction",
        type=int,
        nargs="+",
        default=[HNSW_EF_CONSTRUCTION],
        help="HNSW ef_construction of each graph, paired with --m in order (one value: for every m)",
    )
    parser.add_argument(
        "--hybrid-ef-search",
        type=int,
        default=RetrievalParams().ef_search_for(1_000_000),
        metavar="EF",
        help="ef_search of the timed hybrid query (default: the app's)",
    )
    parser.add_argument("--beir", type=Path, default=Path("/work/shared/data/scifact"), help="BEIR folder")
    parser.add_argument("--cache", type=Path, default=Path("data/bench"), help="where embeddings are cached")
    parser.add_argument("--noise", type=float, default=0.2, help="L2 norm of the noise added to new vectors")
    parser.add_argument("--queries", type=int, default=300, help="queries timed per configuration")
    parser.add_argument("--hybrid-queries", type=int, default=100, help="queries timed for hybrid (0: none)")
    parser.add_argument("--maintenance-work-mem", default="2GB")
    parser.add_argument("--workers", type=int, default=2, help="max_parallel_maintenance_workers")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if min(args.sizes) < 1 or min(args.ef_search) < 1:
        parser.error("sizes and ef_search must be positive")
    try:
        graphs = graph_parameters(args.m, args.ef_construction)
    except ValueError as error:
        parser.error(str(error))
    corpus = load_real_corpus(args.beir, args.cache)
    loads: list[Load] = []
    builds: list[IndexBuild] = []
    timings: list[Timing] = []
    with throwaway_database() as (engine, kb):
        have, parts = 0, []
        for size in sorted(set(args.sizes)):
            load, vectors = grow(engine, kb, corpus, have, size, args.noise)
            loads.append(load)
            parts.append(vectors)
            have = size
            matrix = np.vstack(parts)
            parts = [matrix]
            queries = corpus.query_vectors[: args.queries]
            exact, truth = exact_search(matrix, queries, size)
            timings.append(exact)
            if "halfvec" in args.index_types:
                timings.append(halfvec_exact_recall(matrix, queries, truth, size))
            for index_type in args.index_types:
                variant = replace(kb, index_type=index_type)
                for m, efc in graphs:
                    builds.append(
                        build_index(
                            engine,
                            variant,
                            size,
                            args.maintenance_work_mem,
                            args.workers,
                            m=m,
                            ef_construction=efc,
                        )
                    )
                    for ef in args.ef_search:
                        params = RetrievalParams(mode="dense", k=K, ef_search=ef)
                        timing = time_retrieval(engine, variant, corpus, params, truth, size, args.queries)
                        timings.append(replace(timing, m=m, ef_construction=efc))
                        print(table(loads, builds, timings), file=sys.stderr)
                    if args.hybrid_queries:
                        params = RetrievalParams(ef_search=args.hybrid_ef_search)
                        timing = time_retrieval(
                            engine, variant, corpus, params, None, size, args.hybrid_queries
                        )
                        timings.append(replace(timing, m=m, ef_construction=efc))
                    drop_index(engine, variant)
                    # Saved after every graph, so a run cut short keeps what it measured.
                    if args.json:
                        write_report(args.json, engine, corpus, args.noise, loads, builds, timings)
            print(table(loads, builds, timings), file=sys.stderr)
    print(table(loads, builds, timings))
    return 0


def graph_parameters(ms: list[int], efcs: list[int]) -> list[tuple[int, int]]:
    """(m, ef_construction) of each graph: the lists paired in order, a single value repeated."""
    if len(ms) != len(efcs) and 1 not in (len(ms), len(efcs)):
        raise ValueError("--m and --ef-construction need as many values, or one of them a single value")
    count = max(len(ms), len(efcs))
    graphs = list(
        zip(ms * count if len(ms) == 1 else ms, efcs * count if len(efcs) == 1 else efcs, strict=True)
    )
    for m, efc in graphs:
        if not 2 <= m <= 100 or not 2 * m <= efc <= 1000:
            raise ValueError(
                f"m {m}, ef_construction {efc}: pgvector needs 2 <= m <= 100, 2 m <= ef_construction <= 1000"
            )
    return graphs


def write_report(
    path: Path,
    engine: Engine,
    corpus: RealCorpus,
    noise: float,
    loads: list[Load],
    builds: list[IndexBuild],
    timings: list[Timing],
) -> None:
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
        shared_buffers = conn.execute(sa.text("SHOW shared_buffers")).scalar_one()
    report = {
        "cpus": os.cpu_count(),
        "postgres": version,
        "shared_buffers": shared_buffers,
        "real_chunks": len(corpus.texts),
        "noise": noise,
        "goals_at_100000": {"vector_leg_p50_ms": GOAL_P50_MS, "recall_at_10": GOAL_RECALL},
        "loads": [asdict(lo) for lo in loads],
        "index_builds": [asdict(b) for b in builds],
        "timings": [asdict(t) for t in timings],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
