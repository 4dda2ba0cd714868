"""How long each analytics page's queries take over many answers: `python -m bench.analytics`.

Not a test. Starts a throwaway embedded PostgreSQL, loads the sample knowledge base, fills the
logs with `rag demo-data`'s generator up to each size (today holding a full day of rows), then runs
every page's query set over the last 30 days of demo rows: the first view as it was (computing the
period's rollups), the first view after the worker's periodic job rolled the closed days up, five
later views, and one view reading every day live (no rollups).
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
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from unittest import mock

import sqlalchemy as sa

from bench.throwaway import throwaway_console
from rag.console import Console
from rag.demo import generate_demo_data
from rag.ingest.batch import ingest_paths, sample_files

DAYS = 30
REPEATS = 5
THRESHOLD = 0.4  # MIN_RELEVANCE with the local embedding model
GOAL_S = 1.0  # later views
FIRST_GOAL_S = 2.0  # the first view, the closed days rolled up by the worker


@dataclass(frozen=True)
class PageTiming:
    size: int
    page: str
    median_s: float  # later views
    max_s: float
    runs_s: list[float]
    queries_median_s: dict[str, float]  # each function of the page on its own
    computing_first_s: float  # the page first, on no rollups: it computes them for the period's closed days
    first_view_s: float  # the page first after the worker's job rolled the closed days up
    queries_first_s: dict[str, float]
    live_s: float  # every day read from the raw tables, as before rollups


@dataclass(frozen=True)
class CatchUp:
    size: int
    days: int  # closed days the worker's job rolled up (real and demo)
    seconds: float


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
    from rag.analytics.people import questions_by_person

    period = a.Period.last_days(DAYS, demo=True)
    return {
        "overview": {
            "overview": lambda: a.overview(engine, period),
            "questions_by_day": lambda: a.questions_by_day(engine, period),
            "most_cited_documents": lambda: a.most_cited_documents(engine, period),
            "never_cited_documents": lambda: a.never_cited_documents(engine, kb_id, period),
            "questions_by_person": lambda: questions_by_person(engine, period),
        },
        "cost": {
            "cost_totals": lambda: a.cost_totals(engine, period),
            "cost_by_day": lambda: a.cost_by_day(engine, period),
            "cost_per_answer_by_day": lambda: a.cost_per_answer_by_day(engine, period),
            "cost_per_document": lambda: a.cost_per_document(engine, period),
        },
        "latency": {
            "latency_by_day": lambda: a.latency_by_day(engine, period),
            "stage_time": lambda: a.stage_time(engine, period),
            "total_percentiles": lambda: a.total_percentiles(engine, period),
            "stage_time_by_day": lambda: a.stage_time_by_day(engine, period),
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


def time_pages(console: Console, size: int, repeats: int) -> tuple[CatchUp, list[PageTiming]]:
    """Per page: its first view computing the rollups (forgotten before each page), one view with
    every day live; then the worker's job once, and per page its first view and `repeats` more."""
    from rag.analytics import invalidate_rollups, roll_up_closed_days, rollups

    pages = page_queries(console)
    computing = {}
    for page, queries in pages.items():
        invalidate_rollups(console.engine, demo=True)
        computing[page] = sum(_timed(queries).values())
    with mock.patch.object(rollups, "today", lambda: date(2000, 1, 1)):  # every day is open
        live = {page: sum(_timed(queries).values()) for page, queries in pages.items()}
    invalidate_rollups(console.engine, demo=True)
    started = time.perf_counter()
    caught_up = roll_up_closed_days(console.engine)
    catch_up = CatchUp(size, len(caught_up.real) + len(caught_up.demo), time.perf_counter() - started)
    timings = []
    for page, queries in pages.items():
        first = _timed(queries)
        per_query: dict[str, list[float]] = {name: [] for name in queries}
        for _ in range(repeats):
            for name, seconds in _timed(queries).items():
                per_query[name].append(seconds)
        runs = [sum(times[i] for times in per_query.values()) for i in range(repeats)]
        medians = {name: statistics.median(times) for name, times in per_query.items()}
        timings.append(
            PageTiming(
                size, page, statistics.median(runs), max(runs), runs, medians,
                computing[page], sum(first.values()), first, live[page],
            )
        )  # fmt: skip
    return catch_up, timings


def _timed(queries: dict[str, Query]) -> dict[str, float]:
    """Seconds each query took, run once each in the page's order."""
    seconds = {}
    for name, query in queries.items():
        started = time.perf_counter()
        query()
        seconds[name] = time.perf_counter() - started
    return seconds


def fill_to(console: Console, size: int, have: int) -> Fill:
    """Add demo answers until there are `size`, then bring the planner's statistics up to date."""
    started = time.perf_counter()
    # Rows up to the end of today: today holds a full day's share, the most the live part reads.
    end_of_today = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), clock(), UTC)
    generate_demo_data(
        console, days=DAYS, answers=size - have, seed=size, now=end_of_today, progress=_progress(size, have)
    )
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


def table(fills: list[Fill], catch_ups: list[CatchUp], timings: list[PageTiming]) -> str:
    lines = [
        f"{'answers':>10}  {'page':<11} {'computing s':>11} {'first s':>8} {'ratio':>6} {'median s':>9} "
        f"{'max s':>7} {'live s':>7}  slowest query of the first view (s)"
    ]
    for t in timings:
        name, seconds = max(t.queries_first_s.items(), key=lambda item: item[1])
        flags = [f"first over {FIRST_GOAL_S:g} s"] if t.first_view_s > FIRST_GOAL_S else []
        flags += [f"later over {GOAL_S:g} s"] if t.median_s > GOAL_S else []
        lines.append(
            f"{t.size:>10,}  {t.page:<11} {t.computing_first_s:>11.3f} {t.first_view_s:>8.3f} "
            f"{t.computing_first_s / t.first_view_s:>5.1f}x {t.median_s:>9.3f} {t.max_s:>7.3f} "
            f"{t.live_s:>7.3f}  {name} ({seconds:.3f}){'   ' + ', '.join(flags) if flags else ''}"
        )
    lines.append("")
    lines += [f"filled {f.added:,} answers to {f.size:,} in {f.seconds:.1f} s" for f in fills]
    lines += [
        f"worker job at {c.size:,}: rolled up {c.days} closed day(s) in {c.seconds:.1f} s" for c in catch_ups
    ]
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
    catch_ups: list[CatchUp] = []
    timings: list[PageTiming] = []
    with console_with_samples() as console:
        have = 0
        for size in sorted(set(args.sizes)):
            fills.append(fill_to(console, size, have))
            have = size
            catch_up, pages = time_pages(console, size, args.repeats)
            catch_ups.append(catch_up)
            timings += pages
            print(table(fills, catch_ups, timings), file=sys.stderr)
        with console.engine.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    print(table(fills, catch_ups, timings))
    if args.json:
        report = {
            "days": DAYS,
            "repeats": args.repeats,
            "cpus": os.cpu_count(),
            "postgres": version,
            "fills": [asdict(f) for f in fills],
            "worker_jobs": [asdict(c) for c in catch_ups],
            "pages": [asdict(t) for t in timings],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
