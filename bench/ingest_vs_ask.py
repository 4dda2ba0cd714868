"""A question asked while the workers ingest a queue of files: `python -m bench.ingest_vs_ask`.

Not a test. The goal: with 200 files queued, a question asked meanwhile answers within twice its
idle latency. On a throwaway embedded PostgreSQL with the sample knowledge base, in offline mode
(the local embedding model and the extractive answerer, no API, so every step of an answer and
of an ingestion runs on this machine's CPU): the sample questions are asked one after another,
`--gap` seconds apart, through `prepare` + `stream` (what the chat page calls; the answer cache
is off, so every ask does the whole work), timed from the call until the answer is streamed and
logged. First with nothing else running (idle); then while worker processes (`python -m rag
worker`, on the same database) run 200 files queued at once into another knowledge base (so the
questions' own one, and the work of answering them, stay the same), until the queue is empty;
then idle again. With several `--variants` (worker settings), each ingests its own 200
files, with an idle phase after each; a variant is compared with the idle phases on both sides
of it, since other work on a shared machine makes the idle latency drift.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.ingest import SCIFACT, embeddings_server, scifact_corpus
from bench.service import Service, percentile, questions, service, timed_ask
from bench.workers import cpu_seconds, cpu_spent, postmaster_pid, warm_up, worker_processes
from rag.console import Console
from rag.ingest.jobs import NewFile, job_views
from rag.ingest.queue import enqueue

GOAL_RATIO = 2.0
API_DELAY_S = 0.05  # per embeddings request, for variants with api=1


@dataclass(frozen=True)
class Variant:
    """How the workers run: how many, jobs at once each, nice level, threads of the local model,
    and what embeds the files: the local model (as the questions' knowledge base) or, with
    `api`, an OpenAI-compatible API in another process that answers after 50 ms."""

    workers: int = 2
    concurrency: int = 2
    nice: int = 0
    threads: int = 0  # OMP_NUM_THREADS; 0 leaves it unset (PyTorch then uses every core)
    api: int = 0

    @property
    def label(self) -> str:
        parts = [f"{self.workers}x{self.concurrency}"] + (["API embeddings"] if self.api else [])
        parts += [f"nice {self.nice}"] if self.nice else []
        parts += [f"{self.threads} thread{'s' if self.threads > 1 else ''}"] if self.threads else []
        return ", ".join(parts)


def parse_variant(text: str) -> Variant:
    """ "default", or settings joined by "+": workers=2+concurrency=2+nice=10+threads=1+api=1."""
    values: dict[str, int] = {}
    if text != "default":
        for part in text.split("+"):
            key, _, value = part.partition("=")
            if key not in ("workers", "concurrency", "nice", "threads", "api") or not value.isdigit():
                raise argparse.ArgumentTypeError(f"not a variant: {text!r}")
            values[key] = int(value)
    variant = Variant(**values)
    if min(variant.workers, variant.concurrency) < 1:
        raise argparse.ArgumentTypeError("workers and concurrency must be positive")
    return variant


@dataclass(frozen=True)
class Phase:
    phase: str
    samples_ms: list[float]
    seconds: float
    cpu_s: dict[str, float] = field(default_factory=dict)
    jobs_active: list[int] = field(default_factory=list)  # per ask, jobs not ended when it started
    chunks: int = 0  # ingested meanwhile
    not_ingested: int = 0
    questions: list[int] = field(default_factory=list)  # per ask, which sample question

    @property
    def n(self) -> int:
        return len(self.samples_ms)

    @property
    def p50_ms(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 95)


class Asker:
    """Asks the sample questions in turn, `gap_s` apart, each as a new conversation."""

    def __init__(self, console: Console, gap_s: float) -> None:
        self.console, self.gap_s = console, gap_s
        self.pool = questions()

    def ask(self, number: int, user: str) -> float:
        """Question `number` (modulo the pool), timed; then the gap."""
        question = self.pool[number % len(self.pool)]
        total_ms = timed_ask(self.console, question, user=user).total_ms
        time.sleep(self.gap_s)
        return total_ms

    def idle(self, name: str, rounds: int, groups: dict[str, list[int]]) -> Phase:
        """Every question `rounds` times: each phase asks the same mix (they differ in cost)."""
        before, started = cpu_seconds(groups), time.perf_counter()
        numbers = [i % len(self.pool) for i in range(rounds * len(self.pool))]
        samples = [self.ask(i, user=f"bench {name}") for i in numbers]
        seconds = time.perf_counter() - started
        cpu = cpu_spent(before, cpu_seconds(groups))
        return Phase(name, samples, seconds, cpu, questions=numbers)

    def while_active(
        self, name: str, queue: Console, ids: list[int], groups: dict[str, list[int]], timeout_s: float
    ) -> Phase:
        """Asks until every job of `ids` (in `queue`'s knowledge base) has ended."""
        engine, kb = queue.engine, queue.kb
        before, started = cpu_seconds(groups), time.perf_counter()
        samples: list[float] = []
        active: list[int] = []
        numbers: list[int] = []
        while True:
            views = job_views(engine, kb, ids=ids, limit=len(ids) + 1)
            waiting = sum(v.active for v in views)
            if not waiting:
                break
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError(f"{waiting} of {len(ids)} jobs still running after {timeout_s:g} s")
            active.append(waiting)
            numbers.append(len(numbers) % len(self.pool))
            samples.append(self.ask(numbers[-1], user=f"bench {name}"))
        seconds = time.perf_counter() - started
        return Phase(
            name,
            samples,
            seconds,
            cpu_spent(before, cpu_seconds(groups)),
            active,
            chunks=sum(v.chunk_count for v in views),
            not_ingested=sum(v.state != "ingested" for v in views),
            questions=numbers,
        )


def ingesting(
    svc: Service,
    asker: Asker,
    variant: Variant,
    files: list[NewFile],
    groups: dict[str, list[int]],
    log_dir: Path,
    timeout_s: float,
) -> Phase:
    """The files queued in a knowledge base of their own, on the same database, and run by
    workers started for it, while `asker` asks in its own (which stays as it is, so its answers
    do the same work in every phase)."""
    data_dir = svc.console.settings.data_dir
    env = {"DATABASE_URL": svc.url, "DATA_DIR": str(data_dir), "KNOWLEDGE_BASE": "queued"}
    stack = ExitStack()
    if variant.api:
        base_url, api_pid = stack.enter_context(embeddings_server(API_DELAY_S))
        groups = {**groups, "fake API": [api_pid]}
        env |= {"KNOWLEDGE_BASE": "queued-api", "EMBEDDING_PROVIDER": "openai", "OPENAI_API_KEY": "sk-bench",
                "OPENAI_BASE_URL": base_url}  # fmt: skip
    if variant.threads:
        env["OMP_NUM_THREADS"] = str(variant.threads)
    with stack:
        queue = svc.open(**env)
        try:
            return _ingesting(queue, env, asker, variant, files, groups, log_dir, timeout_s)
        finally:
            queue.engine.dispose()


def _ingesting(
    queue: Console,
    env: dict[str, str],
    asker: Asker,
    variant: Variant,
    files: list[NewFile],
    groups: dict[str, list[int]],
    log_dir: Path,
    timeout_s: float,
) -> Phase:
    with worker_processes(
        queue,
        env,
        count=variant.workers,
        concurrency=variant.concurrency,
        log_dir=log_dir,
        nice=variant.nice,
    ) as processes:
        # Each worker loads its model on its first job: done before the clock starts.
        warm_up(queue, jobs=2 * variant.workers * variant.concurrency, tag=variant.label)
        ids = enqueue(queue, files, user="bench")
        workers = {**groups, "workers": [p.pid for p in processes]}
        return asker.while_active(f"ingesting, {variant.label}", queue, ids, workers, timeout_s)


def table(phases: list[Phase], files: int) -> str:
    lines = [
        "offline answers (local model, extractive; answer cache off), prepare + stream, one at a time;",
        f"ingesting: {files} files queued at once, run by workers (processes x jobs at once each)",
        "",
        f"{'phase':<34} {'asks':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'seconds':>8} {'chunks/s':>9}",
    ]
    for p in phases:
        rate = f"{p.chunks / p.seconds:.1f}" if p.chunks else ""
        lines.append(
            f"{p.phase:<34} {p.n:>5} {p.p50_ms:>8.1f} {p.p95_ms:>8.1f} {max(p.samples_ms):>8.1f} "
            f"{p.seconds:>8.1f} {rate:>9}"
        )
    lines.append("")
    for p in phases:
        spent = {k: v for k, v in p.cpu_s.items() if v >= 0.05}
        total = sum(spent.values())
        parts = ", ".join(f"{k} {v:.1f}" for k, v in spent.items())
        lines.append(f"CPU s, {p.phase}: {parts}; total {total:.1f} = {total / p.seconds:.2f} cores")
    lines.append("")
    for verdict in verdicts(phases):
        lines.append(verdict["text"])
    return "\n".join(lines)


def verdicts(phases: list[Phase]) -> list[dict[str, Any]]:
    """Each ingesting phase against the idle phases on both sides of it, pooled."""
    out: list[dict[str, Any]] = []
    for i, p in enumerate(phases):
        if not p.phase.startswith("ingesting"):
            continue
        around = (phases[i - 1], phases[i + 1])
        idle = [ms for q in around for ms in q.samples_ms]
        p50 = p.p50_ms / percentile(idle, 50)
        p95 = p.p95_ms / percentile(idle, 95)
        # Each ask against the idle median of the same question (questions differ in cost).
        by_question: dict[int, list[float]] = {}
        for q in around:
            for number, ms in zip(q.questions, q.samples_ms, strict=True):
                by_question.setdefault(number, []).append(ms)
        slowdown = [
            ms / percentile(by_question[n], 50) for n, ms in zip(p.questions, p.samples_ms, strict=True)
        ]
        met = max(p50, p95) <= GOAL_RATIO
        text = (
            f"{p.phase}: p50 {p.p50_ms:.0f} ms vs idle {percentile(idle, 50):.0f} ms = {p50:.2f}x, "
            f"p95 {p.p95_ms:.0f} vs {percentile(idle, 95):.0f} ms = {p95:.2f}x; per ask against the same "
            f"question idle: median {percentile(slowdown, 50):.2f}x, p95 {percentile(slowdown, 95):.2f}x; "
            f"goal <= {GOAL_RATIO:g}x: {'met' if met else 'NOT met'}"
        )
        if p.not_ingested:
            text += f" ({p.not_ingested} jobs did not end ingested)"
        out.append(
            {
                "phase": p.phase,
                "p50_ratio": p50,
                "p95_ratio": p95,
                "slowdown_median": percentile(slowdown, 50),
                "slowdown_p95": percentile(slowdown, 95),
                "met": met,
                "text": text,
            }
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_vs_ask", description=__doc__)
    parser.add_argument("--files", type=int, default=200, help="files queued at once (default 200)")
    parser.add_argument("--per-file", type=int, default=1, help="SciFact abstracts per file (default 1)")
    parser.add_argument(
        "--idle-rounds", type=int, default=1, help="each idle phase asks every sample question this often (1)"
    )
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between two asks (default 0.5)")
    parser.add_argument(
        "--variants", nargs="+", type=parse_variant, default=[Variant()], metavar="VARIANT",
        help='worker settings, one ingesting phase each: "default" (2 workers x 2 jobs, as started by '
        '`python -m rag worker --concurrency 2`) or e.g. "nice=10+threads=1" (default: default)',
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=600.0, help="per ingesting phase, seconds (600)")
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="corpus.jsonl.gz of BEIR SciFact")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if min(args.files, args.per_file, args.idle_rounds) < 1 or args.gap < 0:
        parser.error("files, per-file and idle-rounds must be positive, gap not negative")
    variants: list[Variant] = args.variants
    # Each variant ingests files of its own (the same bytes again would end as duplicates at once).
    per_variant = args.files * args.per_file
    corpus = scifact_corpus(per_variant * len(variants), args.per_file, args.scifact)
    load = [("start", os.getloadavg())]
    phases: list[Phase] = []
    with service(offline=True, ANSWER_CACHE="off") as svc:
        console = svc.console
        data_dir = console.settings.data_dir
        groups = {"bench": [os.getpid()], "postgres": [postmaster_pid(data_dir / "data")]}
        asker = Asker(console, args.gap)
        for question in asker.pool:  # warm-up: the model loaded and every code path run once
            timed_ask(console, question, user="bench warm-up")
        phases.append(asker.idle("idle", args.idle_rounds, groups))
        load.append(("idle", os.getloadavg()))
        for i, variant in enumerate(variants):
            part = corpus[i * args.files : (i + 1) * args.files]
            files = [NewFile(f"queued-{i}-{name}", data) for name, data in part]
            log_dir = data_dir / "logs" / f"variant-{i}"
            phases.append(ingesting(svc, asker, variant, files, groups, log_dir, args.timeout))
            load.append((phases[-1].phase, os.getloadavg()))
            phases.append(asker.idle("idle", args.idle_rounds, groups))
            load.append(("idle", os.getloadavg()))
    print(table(phases, args.files))
    print(
        "load average (1, 5, 15 min): " + "; ".join(f"{w} {a:.2f} {b:.2f} {c:.2f}" for w, (a, b, c) in load)
    )
    if args.json:
        report = {
            "files": args.files,
            "per_file": args.per_file,
            "gap_s": args.gap,
            "variants": [asdict(v) for v in variants],
            "cpus": os.cpu_count(),
            "load_average": [{"when": w, "1m": a, "5m": b, "15m": c} for w, (a, b, c) in load],
            "phases": [{**asdict(p), "p50_ms": p.p50_ms, "p95_ms": p.p95_ms} for p in phases],
            "verdicts": [{k: v for k, v in d.items() if k != "text"} for d in verdicts(phases)],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
