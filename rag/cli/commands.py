"""`python -m rag`: ingest, ask, list documents and evaluate from a shell; the same code the app runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from rag.answer import Answer, prepare, stream
from rag.cli.users import add_users_parser
from rag.console import Console, open_console
from rag.demo import generate_demo_data, remove_demo_data
from rag.errors import ConsoleError
from rag.evaluation import eval_knowledge_base_name, evaluate, load_beir, open_eval_console, sync_corpus
from rag.ingest import Progress
from rag.ingest.batch import FileProgress, collect_files, ingest_paths, summary_line
from rag.library import list_documents
from rag.retrieval.params import MODES
from rag.settings import load_settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        console = open_console(load_settings())
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
        "--files-at-once", type=_positive_int, default=2, metavar="N", help="files ingested in parallel (2)"
    )
    p.set_defaults(run=_ingest)
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
    files = collect_files(args.paths)
    started = time.perf_counter()
    results = ingest_paths(
        console,
        files,
        user=args.user or console.settings.default_user,
        on_file=_progress_bar(sys.stderr),
        files_at_once=args.files_at_once,
    )
    for r in results:
        print(f"{r.outcome:<9} {r.filename}: {r.message}")
    print(summary_line(results, time.perf_counter() - started))
    return 1 if any(not r.ok for r in results) else 0


def _progress_bar(out: TextIO) -> FileProgress:
    def for_file(index: int, total: int, path: Path) -> Progress:
        def show(fraction: float, stage: str) -> None:
            filled = int(fraction * 20)
            bar = "#" * filled + "-" * (20 - filled)
            out.write(
                f"\r[{index + 1}/{total}] [{bar}] {fraction:4.0%} {path.name[:40]:<40} {stage[:20]:<20}"
            )
            if fraction >= 1.0:
                out.write("\n")
            out.flush()

        return show

    return for_file


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
    if not args.json:
        for delta in stream(result):
            print(delta, end="", flush=True)
        print()
    else:
        for _ in stream(result):
            pass
    if args.json:
        print(json.dumps(_answer_json(result), ensure_ascii=False))
        return 0
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
        "error": result.error,
        "answer_id": result.answer_id,
        "conversation_id": str(result.conversation_id),
        "cached_at": result.cached_at.isoformat() if result.cached_at else None,
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
