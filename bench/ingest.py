"""Ingestion throughput: `python -m bench.ingest`.

Not a test. Starts a throwaway embedded PostgreSQL and, in a separate process, a local
OpenAI-compatible embeddings server that answers each request after a fixed delay (50 ms by
default), like a real API. Builds a corpus of documents from SciFact abstracts, then:

(a) ingests it side by side against that server, for each document size: the straightforward
    pipeline of most tutorials (one embedding request per chunk, one INSERT per chunk), the
    console's `ingest_file` (batches per request, a few requests in flight within the rate limit,
    COPY) one file at a time and two at once, and through the job queue: every file enqueued at
    once and run by worker processes (`python -m rag worker`), timed from the enqueue call to the
    end of the last job;
(b) ingests it with the local model and measures the share of wall time spent inside the model.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import openai
import sqlalchemy as sa

from bench.profile_worker import read_profile
from bench.throwaway import throwaway_server
from bench.workers import (
    QueuedRun,
    cpu_seconds,
    cpu_spent,
    postmaster_pid,
    run_queued,
    warm_up,
    worker_processes,
)
from db.models import Chunk as ChunkRow
from db.models import Document
from rag.console import Console, open_console
from rag.ingest.batch import ingest_paths
from rag.ingest.jobs import NewFile
from rag.ingest.pipeline import IngestResult, ingest_file
from rag.parsing import parse_document
from rag.providers.embedder import Embedder, EmbeddingBatch
from rag.settings import load_settings
from rag.text.chunking import chunk_sections

SCIFACT = Path("/work/shared/data/scifact/corpus.jsonl.gz")
MODEL = "text-embedding-3-small"
GOAL_RATIO = 20.0
GOAL_AROUND_MODEL = 0.15
PIPELINES = ("console", "2-at-once", "queue")

Corpus = list[tuple[str, bytes]]  # file name, bytes


@dataclass(frozen=True)
class Run:
    pipeline: str
    documents: int
    chunks: int
    seconds: float
    requests: int
    stages_s: dict[str, float] | None = None
    per_document: int = 0  # abstracts per document
    cpu_s: dict[str, float] | None = None  # CPU seconds spent meanwhile, by process group

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds


@dataclass(frozen=True)
class LocalRun:
    documents: int
    chunks: int
    seconds: float
    model_seconds: float
    load_seconds: float
    stages_s: dict[str, float] | None

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds

    @property
    def model_share(self) -> float:
        return self.model_seconds / self.seconds


def scifact_corpus(abstracts: int, per_document: int, source: Path = SCIFACT) -> Corpus:
    """Markdown documents of `per_document` abstracts each, one heading per abstract."""
    rows = []
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        for line in lines:
            rows.append(json.loads(line))
            if len(rows) == abstracts:
                break
    corpus = []
    for start in range(0, len(rows), per_document):
        part = rows[start : start + per_document]
        text = "\n\n".join(f"# {r['title']}\n\n{r['text']}" for r in part)
        corpus.append((f"scifact-{start // per_document + 1:03}.md", text.encode()))
    return corpus


# (a) against the embeddings server


def tutorial_pipeline(console: Console, client: openai.OpenAI, corpus: Corpus) -> Run:
    """Parse and chunk as the console does; then one request and one INSERT per chunk."""
    settings = console.settings
    started = time.perf_counter()
    chunks_done = 0
    for name, data in corpus:
        parsed = parse_document(name, data)
        chunks = chunk_sections(
            parsed.sections, max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap
        )
        with console.engine.begin() as conn:
            doc_id = conn.execute(
                sa.insert(Document)
                .values(
                    knowledge_base_id=console.kb.id, title=parsed.title, filename=name, kind=parsed.kind,
                    content_hash=f"{name}-tutorial", size_bytes=len(data), chunk_count=len(chunks),
                    token_count=sum(c.token_count for c in chunks), uploaded_by="bench",
                )
                .returning(Document.id)
            ).scalar_one()  # fmt: skip
            for chunk in chunks:
                vector = client.embeddings.create(model=MODEL, input=chunk.text).data[0].embedding
                conn.execute(
                    sa.insert(ChunkRow).values(
                        document_id=doc_id, knowledge_base_id=console.kb.id, position=chunk.position,
                        text=chunk.text, token_count=chunk.token_count, page_start=chunk.page_start,
                        page_end=chunk.page_end, heading=chunk.heading, embedding=vector,
                    )
                )  # fmt: skip
        chunks_done += len(chunks)
    return Run("tutorial", len(corpus), chunks_done, time.perf_counter() - started, chunks_done, None)


class StageClock:
    """Seconds per stage of `ingest_file`, from the progress it reports."""

    def __init__(self) -> None:
        self.seconds = {"parse and chunk": 0.0, "embed": 0.0, "store and log": 0.0}
        self._stage = "parse and chunk"
        self._since = time.perf_counter()

    def start_file(self) -> None:
        self._stage, self._since = "parse and chunk", time.perf_counter()

    def progress(self, fraction: float, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[self._stage] += now - self._since
        self._since = now
        if stage.startswith("embedding"):
            self._stage = "embed"
        elif stage == "storing":
            self._stage = "store and log"


def console_pipeline(console: Console, corpus: Corpus, name: str = "console") -> Run:
    clock = StageClock()
    results = []
    started = time.perf_counter()
    for file, data in corpus:
        clock.start_file()
        results.append(ingest_file(console, file, data, user="bench", progress=clock.progress))
    return _run(name, console, results, time.perf_counter() - started, clock.seconds)


def files_at_once_pipeline(console: Console, corpus: Corpus, folder: Path, *, files_at_once: int) -> Run:
    """The CLI's way (`python -m rag ingest` folder): several files in flight at once."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for file, data in corpus:
        (folder / file).write_bytes(data)
        paths.append(folder / file)
    started = time.perf_counter()
    results = ingest_paths(console, paths, user="bench", files_at_once=files_at_once)
    return _run(f"{files_at_once} at once", console, results, time.perf_counter() - started, None)


def queue_pipeline(
    console: Console,
    corpus: Corpus,
    env: dict[str, str],
    log_dir: Path,
    *,
    workers: int,
    concurrency: int,
    processes: dict[str, list[int]],
    profile: bool = False,
) -> tuple[Run, QueuedRun]:
    """Every file enqueued at once, run by `workers` worker processes of `concurrency` jobs each
    (started and warmed up first, as workers that have been up for a while). `profile` runs them
    under bench.profile_worker and adds the time per job step to the run's stages."""
    worker_env = {**env, "KNOWLEDGE_BASE": console.kb.name}
    module = "rag"
    if profile:
        module, worker_env["BENCH_PROFILE_OUT"] = "bench.profile_worker", str(log_dir / "profile")
        for old in log_dir.glob("profile.*"):
            old.unlink()
    with worker_processes(
        console, worker_env, count=workers, concurrency=concurrency, log_dir=log_dir, module=module
    ) as started:
        warm_up(console, jobs=2 * workers * concurrency, tag=console.kb.name)
        groups = {**processes, "workers": [p.pid for p in started]}
        before = cpu_seconds(groups)
        queued = run_queued(console, [NewFile(name, data) for name, data in corpus])
        cpu = cpu_spent(before, cpu_seconds(groups))
    failed = [v for v in queued.views if v.state != "ingested"]
    if failed:
        raise RuntimeError(f"{failed[0].filename}: {failed[0].state}: {failed[0].message}")
    size = console.settings.embedding_batch_size
    requests = sum(-(-v.chunk_count // size) for v in queued.views)
    jobs = queued.job_seconds()
    stages = {
        "enqueue": queued.enqueue_seconds,
        "longest wait in the queue": max(queued.waited_seconds()),
        "job mean": sum(jobs) / len(jobs),
    }
    if profile:
        calls = [
            call
            for path in sorted(log_dir.glob("profile.*"))
            for call in read_profile(path, since=queued.wall_start, until=queued.wall_end)
        ]
        for step in dict.fromkeys(c["step"] for c in calls):
            spent = [c["end"] - c["start"] for c in calls if c["step"] == step]
            stages[f"{step} x{len(spent)} (s per job)"] = sum(spent) / len(queued.views)
    name = f"queue {workers}x{concurrency}"
    return Run(name, len(queued.views), queued.chunks, queued.seconds, requests, stages, cpu_s=cpu), queued


def with_cpu(processes: dict[str, list[int]], pipeline: Callable[..., Run], *args: Any, **kwargs: Any) -> Run:
    """`pipeline(*args, **kwargs)`, with the CPU time each group of processes spent meanwhile."""
    before = cpu_seconds(processes)
    run = pipeline(*args, **kwargs)
    return dataclasses.replace(run, cpu_s=cpu_spent(before, cpu_seconds(processes)))


def _run(
    name: str, console: Console, results: list[IngestResult], seconds: float, stages: dict[str, float] | None
) -> Run:
    failed = [r for r in results if r.outcome != "ingested"]
    if failed:
        raise RuntimeError(f"{failed[0].filename}: {failed[0].message}")
    chunks = sum(r.chunk_count for r in results)
    size = console.settings.embedding_batch_size
    requests = sum(-(-r.chunk_count // size) for r in results)
    return Run(name, len(results), chunks, seconds, requests, stages)


def _serve(delay_s: float, pipe: Pipe) -> None:
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI(request_delay_s=delay_s) as server:
        pipe.send(server.base_url)
        pipe.recv()  # until the benchmark is done


@contextmanager
def embeddings_server(delay_s: float) -> Iterator[tuple[str, int]]:
    """A local embeddings API in its own process, so it does not share this one's interpreter lock:
    its base URL and process id."""
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(delay_s, theirs), daemon=True)
    process.start()
    assert process.pid is not None
    try:
        yield str(ours.recv()), process.pid
    finally:
        ours.send("stop")
        process.join(timeout=10)


# (b) the local model


class TimedEmbedder:
    """The console's embedder, with the time spent inside `embed` added up."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.model = inner.model
        self.max_input_tokens = inner.max_input_tokens
        self.seconds = 0.0
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            with self._lock:
                self.seconds += time.perf_counter() - started


def local_run(console: Console, corpus: Corpus) -> LocalRun:
    started = time.perf_counter()
    console.embedder.embed(["warm up: load the model before timing"])
    load_s = time.perf_counter() - started
    timed = TimedEmbedder(console.embedder)
    run = console_pipeline(dataclasses.replace(console, embedder=timed), corpus, "local")
    return LocalRun(run.documents, run.chunks, run.seconds, timed.seconds, load_s, run.stages_s)


# Setup and report


@contextmanager
def console_for(**env: str) -> Iterator[Console]:
    console = open_console(load_settings(env, secrets_file=None))
    try:
        yield console
    finally:
        console.engine.dispose()


def medians(api: list[Run]) -> list[tuple[Run, list[Run]]]:
    """Per pipeline and document size, in the order run: the median run (by chunks/s; the lower
    of the two middle ones for an even count) and all the runs."""
    groups: dict[tuple[int, str], list[Run]] = {}
    for r in api:
        groups.setdefault((r.per_document, r.pipeline), []).append(r)
    out = []
    for runs in groups.values():
        ranked = sorted(runs, key=lambda r: r.chunks_per_s)
        out.append((ranked[(len(ranked) - 1) // 2], runs))
    return out


def table(api: list[Run], local: LocalRun | None, delay_s: float) -> str:
    lines = [f"(a) embeddings API answering after {delay_s * 1000:g} ms per request, {MODEL}"]
    lines.append(
        f"{'pipeline':<12} {'abstracts/doc':>13} {'documents':>9} {'chunks':>7} {'requests':>8} "
        f"{'seconds':>8} {'chunks/s':>9} {'x tutorial':>10}  {'runs: chunks/s'}"
    )
    summary = medians(api)
    for r, runs in summary:
        times = "" if r.pipeline == "tutorial" else f"{_ratio(api, r) or float('nan'):.1f}x"
        each = " ".join(f"{run.chunks_per_s:.0f}" for run in runs) if len(runs) > 1 else ""
        lines.append(
            f"{r.pipeline:<12} {r.per_document:>13} {r.documents:>9} {r.chunks:>7} {r.requests:>8} "
            f"{r.seconds:>8.2f} {r.chunks_per_s:>9.1f} {times:>10}  {each}"
        )
    lines += [
        f"{r.pipeline} ({r.per_document}/doc) stages: {_stages(r.stages_s)}" for r, _ in summary if r.stages_s
    ]
    lines += [f"{r.pipeline} ({r.per_document}/doc) CPU: {_cpu(r)}" for r, _ in summary if r.cpu_s]
    for r, runs in summary:
        ratio = _ratio(api, r)
        if ratio is None or r.pipeline == "tutorial":
            continue
        verdict = "meets" if ratio >= GOAL_RATIO else "misses"
        lines.append(
            f"ratio {r.pipeline}/tutorial, {r.per_document} abstracts a document: {ratio:.1f}x "
            f"({verdict} the {GOAL_RATIO:g}x goal; median of {len(runs)})"
        )
    if local is not None:
        around = 1 - local.model_share
        verdict = "meets" if around < GOAL_AROUND_MODEL else "misses"
        lines += [
            "",
            "(b) local model (all-MiniLM-L6-v2 on the CPU)",
            f"{local.documents} documents, {local.chunks} chunks in {local.seconds:.2f} s: "
            f"{local.chunks_per_s:.1f} chunks/s",
            f"inside the model {local.model_seconds:.2f} s ({local.model_share:.1%}); around it "
            f"{around:.1%} ({verdict} the < {GOAL_AROUND_MODEL:.0%} goal)",
            f"stages: {_stages(local.stages_s)}; model load {local.load_seconds:.1f} s (not counted)",
        ]
    return "\n".join(lines)


def _ratio(api: list[Run], run: Run) -> float | None:
    base = _tutorial(api, run.per_document)
    return None if base is None else run.chunks_per_s / base.chunks_per_s


def _tutorial(api: list[Run], per_document: int) -> Run | None:
    return next((r for r in api if r.pipeline == "tutorial" and r.per_document == per_document), None)


def _cpu(run: Run) -> str:
    """CPU seconds by process group, and all of them as cores kept busy over the run."""
    spent = {name: s for name, s in (run.cpu_s or {}).items() if s >= 0.005}
    total = sum(spent.values())
    parts = ", ".join(f"{name} {s:.2f}" for name, s in spent.items())
    return f"{parts}; total {total:.2f} s = {total / run.seconds:.2f} cores"


def _stages(stages: dict[str, float] | None) -> str:
    return ", ".join(f"{stage} {s:.2f} s" for stage, s in (stages or {}).items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--abstracts", type=int, default=600, help="SciFact abstracts for (a) (default 600)")
    parser.add_argument("--local-abstracts", type=int, default=200, help="for (b); 0 skips it (default 200)")
    parser.add_argument(
        "--per-document", type=int, nargs="+", default=[300, 100],
        help="abstracts per document, one series of runs per value (default 300 100)",
    )  # fmt: skip
    parser.add_argument("--delay-ms", type=float, default=50.0, help="per embeddings request (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the queue (default 2)")
    parser.add_argument(
        "--worker-concurrency", type=int, nargs="+", default=[2],
        help="jobs at once per worker; one queue run per value (default 2, WORKER_CONCURRENCY's default)",
    )  # fmt: skip
    parser.add_argument(
        "--pipelines", nargs="+", default=list(PIPELINES), choices=PIPELINES,
        help="which of (a) to run (default all; the tutorial one is always run, it is the baseline)",
    )  # fmt: skip
    parser.add_argument(
        "--repeats", type=int, default=3,
        help="rounds of the fast pipelines (not the tutorial one); the table shows the median (default 3)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true", help="time each step of the queue's jobs (bench.profile_worker)"
    )
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="corpus.jsonl.gz of BEIR SciFact")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    sizes = args.per_document
    if min(args.abstracts, *sizes, args.workers, *args.worker_concurrency, args.repeats) < 1:
        parser.error("abstracts, per-document, workers and concurrency must be positive")
    if args.local_abstracts < 0 or args.delay_ms < 0:
        parser.error("local-abstracts and delay-ms must not be negative")
    delay_s = args.delay_ms / 1000
    api: list[Run] = []
    local: LocalRun | None = None
    load: list[tuple[str, tuple[float, float, float]]] = [("start", os.getloadavg())]
    with throwaway_server() as (url, folder), embeddings_server(delay_s) as (base_url, api_pid):
        processes = {
            "bench": [os.getpid()],
            "postgres": [postmaster_pid(folder / "data")],
            "fake API": [api_pid],
        }
        env = {
            "DATABASE_URL": url,
            "DATA_DIR": str(folder),
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": base_url,
        }
        client = openai.OpenAI(api_key="sk-bench", base_url=base_url)
        for per_document in sizes:
            corpus = scifact_corpus(args.abstracts, per_document, args.scifact)

            def add(run: Run, n: int = per_document) -> None:
                api.append(dataclasses.replace(run, per_document=n))
                print(table(api, None, delay_s), file=sys.stderr)

            with console_for(**env, KNOWLEDGE_BASE=f"tutorial-{per_document}") as console:
                add(with_cpu(processes, tutorial_pipeline, console, client, corpus))
            # The fast pipelines take about a second each: `--repeats` rounds of all of them, side
            # by side, each in a knowledge base of its own (same files, so no duplicates).
            for round_ in range(1, args.repeats + 1):
                if "console" in args.pipelines:
                    with console_for(**env, KNOWLEDGE_BASE=f"console-{per_document}-{round_}") as console:
                        add(with_cpu(processes, console_pipeline, console, corpus))
                if "2-at-once" in args.pipelines:
                    with console_for(**env, KNOWLEDGE_BASE=f"console-2-{per_document}-{round_}") as console:
                        where = folder / f"corpus-{per_document}"
                        add(
                            with_cpu(
                                processes, files_at_once_pipeline, console, corpus, where, files_at_once=2
                            )
                        )
                if "queue" in args.pipelines:
                    for concurrency in args.worker_concurrency:
                        kb = f"queue-{args.workers}x{concurrency}-{per_document}-{round_}"
                        with console_for(**env, KNOWLEDGE_BASE=kb) as console:
                            run, _ = queue_pipeline(
                                console, corpus, env, folder / "logs" / kb, workers=args.workers,
                                concurrency=concurrency, processes=processes, profile=args.profile,
                            )  # fmt: skip
                            add(run)
            load.append((f"after {per_document}/doc", os.getloadavg()))
        settings = load_settings(env, secrets_file=None)
        if args.local_abstracts:
            local_corpus = scifact_corpus(args.local_abstracts, sizes[0], args.scifact)
            with console_for(DATABASE_URL=url, DATA_DIR=str(folder), KNOWLEDGE_BASE="local") as console:
                local = local_run(console, local_corpus)
    load.append(("end", os.getloadavg()))
    print(table(api, local, delay_s))
    print(
        "load average (1, 5, 15 min): "
        + "; ".join(f"{when} {a:.2f} {b:.2f} {c:.2f}" for when, (a, b, c) in load)
    )
    if args.json:
        report = {
            "delay_ms": args.delay_ms,
            "per_document": sizes,
            "workers": args.workers,
            "repeats": args.repeats,
            "worker_concurrency": args.worker_concurrency,
            "cpus": os.cpu_count(),
            "load_average": [{"when": when, "1m": a, "5m": b, "15m": c} for when, (a, b, c) in load],
            "settings": {
                "embedding_batch_size": settings.embedding_batch_size,
                "embedding_concurrency": settings.embedding_concurrency,
                "embedding_requests_per_minute": settings.embedding_requests_per_minute,
                "chunk_tokens": settings.chunk_tokens,
            },
            "api": [
                {
                    **asdict(r),
                    "chunks_per_s": r.chunks_per_s,
                    "ratio": _ratio(api, r),
                }
                for r in api
            ],
            "medians": [
                {
                    "pipeline": r.pipeline,
                    "per_document": r.per_document,
                    "chunks_per_s": r.chunks_per_s,
                    "ratio": _ratio(api, r),
                    "runs": len(runs),
                }
                for r, runs in medians(api)
            ],
            "local": None
            if local is None
            else {**asdict(local), "chunks_per_s": local.chunks_per_s, "model_share": local.model_share},
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
