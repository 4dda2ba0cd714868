"""How long each analytics page's queries take over many answers: `python -m bench.analytics`.

Not a test. Starts a throwaway embedded PostgreSQL, loads the sample knowledge base, fills the
logs with `rag demo-data`'s generator up to each size, then runs every page's query set over the
last 30 days of demo rows, five times, and reports the median and the slowest run per page.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa

from bench.throwaway import throwaway_console
from rag.console import Console
from rag.demo import generate_demo_data
from rag.ingest.batch import ingest_paths, sample_files

DAYS = 30
REPEATS = 5
THRESHOLD = 0.4  # MIN_RELEVANCE with the local embedding model
GOAL_S = 1.0


@dataclass(frozen=True)
class PageTiming:
    size: int
    page: str
    median_s: float
    max_s: float
    runs_s: list[float]
    queries_median_s: dict[str, float]  # each function of the page on its own
    first_view_s: float  # the page first, on no rollups: it computes them for the period's closed days


@dataclass(frozen=True)
class Fill:
    size: int
    added: int
    seconds: float  # generating and writing the rows, then VACUUM ANALYZE


Query = Callable[[], object]


def page_queries(console: Console) -> dict[str, dict[str, Query]]:
    """Each analytics page's queries, as the page runs them, over the last DAYS days of demo rows."""
    # Imported here so that the benchmark's own module loads even while rag.analytics changes.
    from rag import analytics as a
    from rag.analytics.unanswered import unanswered_groups

    engine, kb_id = console.engine, console.kb.id
    period = a.Period.last_days(DAYS, demo=True)
    return {
        "overview": {
            "overview": lambda: a.overview(engine, period),
            "questions_by_day": lambda: a.questions_by_day(engine, period),
            "most_cited_documents": lambda: a.most_cited_documents(engine, period),
            "never_cited_documents": lambda: a.never_cited_documents(engine, kb_id, period),
        },
        "cost": {
            "cost_by_day": lambda: a.cost_by_day(engine, period),
            "cost_totals": lambda: a.cost_totals(engine, period),
            "cost_per_answer_by_day": lambda: a.cost_per_answer_by_day(engine, period),
        },
        "latency": {
            "latency_by_day": lambda: a.latency_by_day(engine, period),
            "latency_histogram": lambda: a.latency_histogram(engine, period),
            "slowest_answers": lambda: a.slowest_answers(engine, period),
            "errors_by_day": lambda: a.errors_by_day(engine, period),
        },
        "unanswered": {
            "unanswered_groups": lambda: unanswered_groups(
                engine, start=period.start, end=period.end, demo=True, threshold=THRESHOLD
            ),
        },
    }


def time_pages(console: Console, size: int, repeats: int) -> list[PageTiming]:
    from rag.analytics.rollups import invalidate_rollups

    timings = []
    for page, queries in page_queries(console).items():
        invalidate_rollups(console.engine, demo=True)
        started = time.perf_counter()
        for query in queries.values():
            query()
        first = time.perf_counter() - started
        runs = []
        per_query: dict[str, list[float]] = {name: [] for name in queries}
        for _ in range(repeats):
            for name, query in queries.items():
                started = time.perf_counter()
                query()
                per_query[name].append(time.perf_counter() - started)
            runs.append(sum(times[-1] for times in per_query.values()))
        medians = {name: statistics.median(times) for name, times in per_query.items()}
        timings.append(PageTiming(size, page, statistics.median(runs), max(runs), runs, medians, first))
    return timings


def fill_to(console: Console, size: int, have: int) -> Fill:
    """Add demo answers until there are `size`, then bring the planner's statistics up to date."""
    started = time.perf_counter()
    generate_demo_data(console, days=DAYS, answers=size - have, seed=size, progress=_progress(size, have))
    # VACUUM as autovacuum would after a bulk insert: it sets the visibility map, so index-only
    # scans work as they do on a database that has been running for a while.
    with console.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return Fill(size, size - have, time.perf_counter() - started)


def _progress(size: int, have: int) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        sys.stderr.write(f"\rfilling to {size:,} answers: {have + done:,}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


@contextmanager
def console_with_samples() -> Iterator[Console]:
    """A console on a fresh embedded PostgreSQL (deleted afterwards) with the sample library."""
    with throwaway_console() as console:
        ingest_paths(console, sample_files(), user="bench")
        yield console


def table(fills: list[Fill], timings: list[PageTiming]) -> str:
    lines = [
        f"{'answers':>10}  {'page':<11} {'first s':>8} {'median s':>9} {'max s':>8}  slowest query (median s)"
    ]
    for t in timings:
        name, seconds = max(t.queries_median_s.items(), key=lambda item: item[1])
        flag = "" if t.median_s < GOAL_S else f"   over the {GOAL_S:g} s goal"
        lines.append(
            f"{t.size:>10,}  {t.page:<11} {t.first_view_s:>8.3f} {t.median_s:>9.3f} {t.max_s:>8.3f}  "
            f"{name} ({seconds:.3f}){flag}"
        )
    lines.append("")
    lines += [f"filled {f.added:,} answers to {f.size:,} in {f.seconds:.1f} s" for f in fills]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], metavar="N")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"runs per page (default: {REPEATS})")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if min(args.sizes) < 1 or args.repeats < 1:
        parser.error("sizes and repeats must be positive")
    fills: list[Fill] = []
    timings: list[PageTiming] = []
    with console_with_samples() as console:
        have = 0
        for size in sorted(set(args.sizes)):
            fills.append(fill_to(console, size, have))
            have = size
            timings += time_pages(console, size, args.repeats)
            print(table(fills, timings), file=sys.stderr)
        with console.engine.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    print(table(fills, timings))
    if args.json:
        report = {
            "days": DAYS,
            "repeats": args.repeats,
            "cpus": os.cpu_count(),
            "postgres": version,
            "fills": [asdict(f) for f in fills],
            "pages": [asdict(t) for t in timings],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
