"""`python -m rag`: ingest, ask and list documents from a shell; the same code the app runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from rag.answering import AnswerResult, ask
from rag.batch_ingest import FileProgress, collect_files, ingest_paths, summary_line
from rag.console import Console, open_console
from rag.document_store import list_documents
from rag.errors import ConsoleError
from rag.ingest import Progress
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
    p.set_defaults(run=_ingest)
    p = sub.add_parser("ask", help="ask a question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_ask)
    p = sub.add_parser("documents", help="list the document library")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=_documents)
    return parser


def _ingest(console: Console, args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"error: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    files = collect_files(args.paths)
    started = time.perf_counter()
    results = ingest_paths(
        console, files, user=args.user or console.settings.default_user, on_file=_progress_bar(sys.stderr)
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


def _ask(console: Console, args: argparse.Namespace) -> int:
    stream = ask(console, args.question, user=console.settings.default_user)
    if not args.json:
        for delta in stream:
            print(delta, end="", flush=True)
        print()
    else:
        for _ in stream:
            pass
    result = stream.result
    assert result is not None  # set once the stream is exhausted
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


def _answer_json(result: AnswerResult) -> dict[str, object]:
    return {
        "answer": result.answer,
        "answered": result.answered,
        "incomplete": result.incomplete,
        "error": result.error,
        "answer_id": result.answer_id,
        "conversation_id": str(result.conversation_id),
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
