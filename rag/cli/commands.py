"""`python -m rag`: ingest, ask, list documents and evaluate from a shell; the same code the app runs."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from rag.analytics import roll_up_closed_days
from rag.analytics.gap_loop import recheck_gaps
from rag.answer import Answer, close_abandoned_answers, prepare, stream
from rag.api import serve
from rag.auth import announce_setup_code
from rag.cli.users import add_users_parser
from rag.console import Console, database_label, open_console
from rag.demo import generate_demo_data, remove_demo_data
from rag.errors import ConsoleError
from rag.evaluation import eval_knowledge_base_name, evaluate, load_beir, open_eval_console, sync_corpus
from rag.ingest import IngestResult, collect_files, summary_line
from rag.ingest.folder_sync import sync_folder
from rag.ingest.jobs import JobView, NewFile, job_fraction
from rag.ingest.queue import enqueue
from rag.ingest.wait import wait_for_jobs
from rag.ingest.worker import PeriodicJob, run_worker
from rag.library import list_documents
from rag.retrieval.params import MODES
from rag.settings import Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.run is _worker:
            # Before the console opens: the model's threads and the parse workers inherit it.
            os.nice(settings.worker_nice)
        console = open_console(settings)
        code: int = args.run(console, args)
        return code
    except ConsoleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag", description="Knowledge Console from the shell.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    p = sub.add_parser("ingest", help="ingest files and folders")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--user", help="recorded as the uploader (default: CONSOLE_USER or your login)")
    p.add_argument(
        "--files-at-once",
        type=_positive_int,
        default=2,
        metavar="N",
        help="files ingested in parallel when no worker is running (2)",
    )
    p.add_argument("--no-wait", action="store_true", help="queue the files for the workers and return")
    p.set_defaults(run=_ingest)
    p = sub.add_parser("sync", help="sync a server folder: queue new and changed files, remove vanished ones")
    p.add_argument("folder", type=Path, metavar="DIR")
    p.add_argument("--user", help="recorded as the uploader (default: CONSOLE_USER or your login)")
    p.add_argument("--no-wait", action="store_true", help="queue the files for the workers and return")
    p.set_defaults(run=_sync)
    p = sub.add_parser("worker", help="run ingestion jobs (as many workers as you like, on any machine)")
    p.add_argument("--concurrency", type=_positive_int, metavar="N", help="jobs at once (WORKER_CONCURRENCY)")
    p.set_defaults(run=_worker)
    p = sub.add_parser("api", help="serve the HTTP API (/v1/chat, OpenAI-compatible /v1/chat/completions)")
    p.add_argument("--host", help="address to listen on (API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=_positive_int, help="port (API_PORT, 8502)")
    p.set_defaults(run=_api)
    p = sub.add_parser("ask", help="ask a question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_ask)
    p = sub.add_parser("documents", help="list the document library")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=_documents)
    p = sub.add_parser("eval", help="measure retrieval quality on a BEIR dataset")
    p.add_argument(
        "--beir", type=Path, required=True, metavar="DIR", help="corpus, queries and qrels/test.tsv"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--mode", choices=MODES, help="retrieval mode (default: RETRIEVAL_MODE)")
    p.add_argument("--limit-queries", type=_positive_int, metavar="N", help="only the first N judged queries")
    p.add_argument("--kb", metavar="NAME", help="knowledge base for the corpus (default: eval:<folder name>)")
    p.set_defaults(run=_eval)
    p = sub.add_parser("demo-data", help="add labelled demo traffic for the analytics pages, or remove it")
    p.add_argument("--days", type=_positive_int, default=30, help="spread over the last N days (default: 30)")
    p.add_argument("--answers", type=_positive_int, default=5000, metavar="N", help="demo answers to add")
    p.add_argument("--seed", type=int, help="random seed, to repeat a run exactly (default: a new one)")
    p.add_argument("--remove", action="store_true", help="delete every demo row instead")
    p.set_defaults(run=_demo_data)
    add_users_parser(sub)
    return parser


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return int(text)


def _ingest(console: Console, args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"error: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    files: list[NewFile] = []
    unreadable: list[IngestResult] = []
    for path in collect_files(args.paths):
        try:
            files.append(NewFile(path.name, path.read_bytes()))
        except OSError as exc:
            unreadable.append(IngestResult(path.name, "rejected", f"Cannot read the file: {exc.strerror}"))
    job_ids = enqueue(console, files, user=args.user or console.settings.default_user)
    if args.no_wait:
        print(f"queued {len(job_ids)} file{'' if len(job_ids) == 1 else 's'} (jobs {_id_range(job_ids)})")
        return 0
    return _report(console, job_ids, unreadable, started, args.files_at_once)


def _sync(console: Console, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    report = sync_folder(console, args.folder, user=args.user or console.settings.default_user)
    for name in report.removed:
        print(f"{'removed':<9} {name}: its file is gone from the folder")
    unreadable = [IngestResult(n, "rejected", "Cannot read the file") for n in report.unreadable]
    code = 0
    if report.job_ids and not args.no_wait:
        code = _report(console, report.job_ids, unreadable, started, 2, summary=False)
    print(report.summary())
    return code


def _worker(console: Console, args: argparse.Namespace) -> int:
    concurrency = args.concurrency or console.settings.worker_concurrency
    print(f"worker: {concurrency} job(s) at once on {database_label(console)}; Ctrl-C stops", file=sys.stderr)
    # On an empty console the setup code goes to the terminal at start, as Jupyter prints its token:
    # scripts/run.sh starts the worker first, before anyone opens the app.
    if console.settings.auth_mode == "builtin":
        announce_setup_code(console.engine)
    run_worker(console, concurrency=concurrency, periodic=worker_periodic_jobs(console.settings))
    return 0


def _api(console: Console, args: argparse.Namespace) -> int:
    settings = console.settings
    host, port = args.host or settings.api_host, args.port or settings.api_port
    print(f"api: http://{host}:{port}/v1 (docs at /docs) on {database_label(console)}", file=sys.stderr)
    serve(console, host=host, port=port, cors_origins=settings.api_cors_origins)
    return 0


def worker_periodic_jobs(settings: Settings | None = None) -> list[PeriodicJob]:
    """What a worker does besides ingestion: close the answers a dead app process left open, roll
    up the analytics of closed days before anyone opens a page, and re-ask the open unanswered
    groups when new documents arrived (GAP_LOOP_SCHEDULE)."""
    jobs = [
        # Every 10 s (the sixth field is seconds): an update through a partial index, usually of nothing.
        PeriodicJob("close_abandoned_answers", "* * * * * */10", _close_abandoned_answers),
        # Every minute, 30 s past (so 00:00:30 UTC for the day just closed): four small queries when
        # nothing is missing; a day a trigger forgot (late feedback, an answer finished after
        # midnight) is computed again within a minute.
        PeriodicJob("roll_up_analytics", "* * * * * 30", _roll_up_analytics),
    ]
    if settings is not None and settings.gap_loop_schedule:
        jobs.append(PeriodicJob("recheck_gaps", settings.gap_loop_schedule, _recheck_gaps))
    return jobs


def _close_abandoned_answers(console: Console) -> str:
    closed = close_abandoned_answers(console.engine, older_than_s=console.settings.answer_abandoned_after_s)
    return f"{closed} abandoned answer(s) closed"


def _roll_up_analytics(console: Console) -> str:
    return str(roll_up_closed_days(console.engine))


def _recheck_gaps(console: Console) -> str:
    return str(recheck_gaps(console))


def _report(
    console: Console,
    job_ids: list[int],
    unreadable: list[IngestResult],
    started: float,
    concurrency: int,
    *,
    summary: bool = True,
) -> int:
    """Wait for the jobs (running them here if no worker is up), then print one line per file."""
    bars = _ProgressBars(sys.stderr, len(job_ids))
    views = wait_for_jobs(console, job_ids, on_update=bars.draw, concurrency=concurrency)
    results = [
        IngestResult(v.filename, v.state, v.message or "", v.document_id, v.chunk_count, v.token_count)
        for v in views
    ] + unreadable
    for r in results:
        print(f"{r.outcome:<9} {r.filename}: {r.message}")
    if summary:
        print(summary_line(results, time.perf_counter() - started))
    return 1 if any(not r.ok for r in results) else 0


class _ProgressBars:
    """One line per file on stderr, redrawn while it runs and left finished, so stdout stays parseable."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out, self.total = out, total
        self.finished: set[int] = set()
        self.drawn: dict[int, tuple[str, int]] = {}

    def draw(self, views: list[JobView]) -> None:
        for index, view in enumerate(views):
            if view.id in self.finished or view.state == "queued":
                continue
            if self.drawn.get(view.id) == (view.state, view.batches_done):
                continue
            self.drawn[view.id] = (view.state, view.batches_done)
            fraction = 1.0 if not view.active else job_fraction(view)
            filled = int(fraction * 20)
            bar = "#" * filled + "-" * (20 - filled)
            self.out.write(
                f"\r[{index + 1}/{self.total}] [{bar}] {fraction:4.0%} "
                f"{view.filename[:40]:<40} {view.state:<20}"
            )
            if not view.active:
                self.finished.add(view.id)
                self.out.write("\n")
            self.out.flush()


def _id_range(ids: list[int]) -> str:
    return f"{ids[0]}-{ids[-1]}" if len(ids) > 1 else ", ".join(map(str, ids)) or "none"


def _eval(console: Console, args: argparse.Namespace) -> int:
    dataset = load_beir(args.beir)
    eval_console = open_eval_console(console, args.kb or eval_knowledge_base_name(args.beir))
    sync = sync_corpus(eval_console, dataset, progress=_counter(sys.stderr, "ingesting", "documents"))
    print(
        f"{eval_console.kb.name}: {sync.stored} documents embedded ({sync.chunks} chunks), "
        f"{sync.skipped} unchanged, {sync.removed} removed in {sync.seconds:.1f} s",
        file=sys.stderr,
    )
    mode = args.mode or console.settings.retrieval_mode
    progress = _counter(sys.stderr, "querying", "queries")
    report = evaluate(eval_console, dataset, mode, limit=args.limit_queries, progress=progress)
    print(json.dumps(report.as_json()) if args.json else report.as_table())
    return 0


def _demo_data(console: Console, args: argparse.Namespace) -> int:
    if args.remove:
        r = remove_demo_data(console.engine)
        print(
            f"removed {r.answers:,} demo answers ({r.sources:,} sources, {r.feedback:,} feedback), "
            f"{r.model_calls:,} demo model calls and {r.conversations:,} demo conversations"
        )
        return 0
    progress = _counter(sys.stderr, "writing", "demo answers")
    s = generate_demo_data(console, days=args.days, answers=args.answers, seed=args.seed, progress=progress)
    print(
        f"added {s.answers:,} demo answers in {s.conversations:,} conversations ({s.sources:,} sources, "
        f"{s.model_calls:,} model calls, {s.feedback:,} feedback) over {args.days} days "
        f"in {s.seconds:.1f} s (seed {s.seed})"
    )
    print(
        f"knowledge upkeep: {s.gaps} unanswered group(s) given a state, {s.curated} answer(s) from a "
        f"curated one, {s.review_dates} document review date(s) moved"
    )
    if s.already_there:
        print(f"{s.already_there:,} demo answers were already there: now {s.already_there + s.answers:,}")
    print("Remove every demo row with: python -m rag demo-data --remove")
    return 0


def _counter(out: TextIO, verb: str, noun: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        out.write(f"\r{verb} {done:,}/{total:,} {noun}" + ("\n" if done >= total else ""))
        out.flush()

    return show


def _ask(console: Console, args: argparse.Namespace) -> int:
    result = prepare(console, args.question, user=console.settings.default_user)
    with contextlib.closing(stream(result)) as deltas:  # Ctrl-C: logged as interrupted
        for delta in deltas:
            if not args.json:
                print(delta, end="", flush=True)
    if not args.json:
        print()
    if args.json:
        print(json.dumps(_answer_json(result), ensure_ascii=False))
        return 0
    if result.curated_by:
        print(f"(curated answer by {result.curated_by}, {result.curated_at:%Y-%m-%d})")
    if result.error:
        print(f"\n(warning: {result.error})")
    for p in result.passages:
        if p.number in result.cited or not result.answered:
            where = f", {p.location}" if p.location else ""
            print(f"[{p.number}] {p.document}{where} (score {p.score:.2f})")
    return 0


def _answer_json(result: Answer) -> dict[str, object]:
    return {
        "answer": result.answer,
        "answered": result.answered,
        "incomplete": result.incomplete,
        "state": result.state,
        "confidence": result.confidence if result.answered else None,
        "error": result.error,
        "answer_id": result.answer_id,
        "conversation_id": str(result.conversation_id),
        "cached_at": result.cached_at.isoformat() if result.cached_at else None,
        "curated_by": result.curated_by,  # a knowledge manager's curated answer (rag/answer/curated.py)
        "curated_at": result.curated_at.isoformat() if result.curated_at else None,
        "sources": [
            {
                "number": p.number,
                "document": p.document,
                "document_id": p.document_id,
                "chunk_id": p.chunk_id,
                "location": p.location,
                "score": round(p.score, 4),
                "cited": p.number in result.cited,
                "text": p.text,
            }
            for p in result.passages
        ],
    }


def _documents(console: Console, args: argparse.Namespace) -> int:
    docs = list_documents(console.engine, console.kb)
    if args.json:
        print(json.dumps([asdict(d) for d in docs], default=str, ensure_ascii=False))
        return 0
    if not docs:
        print("The library is empty. Add documents with: python -m rag ingest PATH...")
        return 0
    for d in docs:
        print(f"{d.id:>5}  {d.kind:<8} {d.chunk_count:>5} chunks {d.token_count:>8,} tokens  {d.title}")
    return 0
