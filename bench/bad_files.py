"""Every bad file of the test corpus through the upload pipeline: `python -m bench.bad_files`.

Not a test. Starts a throwaway embedded PostgreSQL and a console with the local embedding model,
then sends each file of `tests/bad_files.py` through `ingest_file` (as the upload page and the CLI
do) and, on its own, through the parse sandbox. It reports the seconds and the peak memory growth
of each: in this process (the app's) and in the parse child. The goal is under 2 s and under
300 MB for every case. A second table shows what the sandbox costs on small, ordinary files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

from bench.throwaway import throwaway_console
from rag.console import Console
from rag.errors import RejectedFile
from rag.ingest.batch import sample_files
from rag.ingest.pipeline import ingest_file
from rag.parsing import parse_document
from rag.parsing.sandbox import ParseLimits, ParseStats, parse_isolated
from tests.bad_files import BadFile, all_bad_files
from tests.sample_files import Heading, make_docx, make_pdf

GOAL_S = 2.0
GOAL_MB = 300.0
REPEATS = 3
OVERHEAD_REPEATS = 30


@dataclass(frozen=True)
class CaseResult:
    case: str
    filename: str
    size_bytes: int
    outcome: str
    message: str
    ingest_s: float  # ingest_file, end to end
    app_growth_mb: float  # this process's peak resident memory above its level before ingest_file
    parse_s: float | None  # the sandboxed parse alone, median of REPEATS (None: refused before parsing)
    child_growth_mb: float | None  # the parse child's peak resident memory above its start

    @property
    def worst_s(self) -> float:
        return max(self.ingest_s, self.parse_s or 0.0)

    @property
    def worst_mb(self) -> float:
        return self.app_growth_mb + (self.child_growth_mb or 0.0)


@dataclass(frozen=True)
class Overhead:
    file: str
    size_bytes: int
    in_process_ms: float  # median
    sandboxed_ms: float  # median


class PeakGrowth:
    """This process's peak resident memory above its level at entry, sampled every millisecond."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._baseline = 0

    def __enter__(self) -> PeakGrowth:
        self._baseline = _resident_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._note()

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self._note()

    def _note(self) -> None:
        self.peak_mb = max(self.peak_mb, (_resident_bytes() - self._baseline) / 1_048_576)


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def run_case(console: Console, bad: BadFile) -> CaseResult:
    with PeakGrowth() as growth:
        started = time.perf_counter()
        result = ingest_file(console, bad.filename, bad.data, user="bench")
        seconds = time.perf_counter() - started
    stats = [] if len(bad.data) > console.settings.max_upload_bytes else _parse_stats(console, bad)
    return CaseResult(
        case=bad.case,
        filename=bad.filename,
        size_bytes=len(bad.data),
        outcome=result.outcome,
        message=result.message,
        ingest_s=seconds,
        app_growth_mb=growth.peak_mb,
        parse_s=statistics.median(s.seconds for s in stats) if stats else None,
        child_growth_mb=max((s.peak_growth_mb for s in stats if s.peak_growth_mb is not None), default=None),
    )


def _parse_stats(console: Console, bad: BadFile) -> list[ParseStats]:
    limits = ParseLimits(console.settings.parse_timeout_s, console.settings.parse_memory_mb)
    stats: list[ParseStats] = []
    for _ in range(REPEATS):
        with suppress(RejectedFile):
            parse_isolated(bad.filename, bad.data, limits=limits, measure=stats.append)
    return stats


def overheads(limits: ParseLimits) -> list[Overhead]:
    files = {
        "note.txt": b"Opening hours\n\nThe office opens at nine and closes at five.",
        "policy.pdf": make_pdf(["Refunds take five business days.", "Shipping takes three days."]),
        "guide.docx": make_docx([Heading("Guide"), "Press the green button to start."]),
    }
    files |= {path.name: path.read_bytes() for path in sample_files()[:2]}
    rows = []
    for name, data in files.items():
        in_process = _median_ms(parse_document, name, data)
        sandboxed = _median_ms(partial(parse_isolated, limits=limits), name, data)
        rows.append(Overhead(name, len(data), in_process, sandboxed))
    return rows


def _median_ms(parse: Callable[[str, bytes], object], name: str, data: bytes) -> float:
    parse(name, data)  # warm-up
    times = []
    for _ in range(OVERHEAD_REPEATS):
        started = time.perf_counter()
        parse(name, data)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def case_table(results: list[CaseResult]) -> str:
    lines = [
        f"{'case':<42} {'size':>11} {'outcome':<9} {'ingest s':>8} {'parse s':>8} "
        f"{'app MB':>7} {'child MB':>8}  message"
    ]
    for r in results:
        parse_s = "-" if r.parse_s is None else f"{r.parse_s:.3f}"
        child = "-" if r.child_growth_mb is None else f"{r.child_growth_mb:.1f}"
        over = "" if r.worst_s < GOAL_S and r.worst_mb < GOAL_MB else "  OVER THE GOAL"
        lines.append(
            f"{r.case:<42} {r.size_bytes:>11,} {r.outcome:<9} {r.ingest_s:>8.3f} {parse_s:>8} "
            f"{r.app_growth_mb:>7.1f} {child:>8}  {r.message[:70]}{over}"
        )
    return "\n".join(lines)


def overhead_table(rows: list[Overhead]) -> str:
    lines = [f"{'file':<32} {'size':>9} {'in process ms':>14} {'sandboxed ms':>13} {'overhead ms':>12}"]
    lines += [
        f"{o.file[:32]:<32} {o.size_bytes:>9,} {o.in_process_ms:>14.2f} {o.sandboxed_ms:>13.2f} "
        f"{o.sandboxed_ms - o.in_process_ms:>12.2f}"
        for o in rows
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bad_files", description=__doc__)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    corpus = all_bad_files()
    with throwaway_console() as console:
        limits = ParseLimits(console.settings.parse_timeout_s, console.settings.parse_memory_mb)
        started = time.perf_counter()
        parse_isolated("warm-up.txt", b"The first parse starts the worker.", limits=limits)
        worker_start_s = time.perf_counter() - started
        # As in a running app: the embedding model is loaded and the database connected.
        ingest_file(console, "warm-up.txt", b"The embedding model loads on first use.", user="bench")
        results = [run_case(console, bad) for bad in corpus]
        costs = overheads(limits)
    print(case_table(results))
    print(f"\ngoal: every case under {GOAL_S:g} s and {GOAL_MB:g} MB (app + child); ", end="")
    print("all met" if all(r.worst_s < GOAL_S and r.worst_mb < GOAL_MB for r in results) else "NOT all met")
    print(f"\nsandbox cost on ordinary files (median of {OVERHEAD_REPEATS}):")
    print(overhead_table(costs))
    print(f"first parse after start (starting the worker): {worker_start_s:.3f} s")
    if args.json:
        report = {
            "goal_s": GOAL_S,
            "goal_mb": GOAL_MB,
            "cpus": os.cpu_count(),
            "limits": asdict(limits),
            "worker_start_s": worker_start_s,
            "cases": [asdict(r) for r in results],
            "overhead": [asdict(o) for o in costs],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
