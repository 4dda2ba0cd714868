"""Ingestion throughput: `python -m bench.ingest`.

Not a test. Starts a throwaway embedded PostgreSQL and, in a separate process, a local
OpenAI-compatible embeddings server that answers each request after a fixed delay (50 ms by
default), like a real API. Builds a corpus of documents from SciFact abstracts, then:

(a) ingests it twice side by side against that server: the straightforward pipeline of most
    tutorials (one embedding request per chunk, one INSERT per chunk) and the console's
    `ingest_file` (batches per request, a few requests in flight within the rate limit, COPY);
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

import openai
import sqlalchemy as sa

from bench.throwaway import throwaway_server
from db.models import Chunk as ChunkRow
from db.models import Document
from rag.console import Console, open_console
from rag.ingest.batch import ingest_paths
from rag.ingest.pipeline import IngestResult, ingest_file
from rag.parsing import parse_document
from rag.providers.embedder import Embedder, EmbeddingBatch
from rag.settings import load_settings
from rag.text.chunking import chunk_sections

SCIFACT = Path("/work/shared/data/scifact/corpus.jsonl.gz")
MODEL = "text-embedding-3-small"
GOAL_RATIO = 20.0
GOAL_AROUND_MODEL = 0.15

Corpus = list[tuple[str, bytes]]  # file name, bytes


@dataclass(frozen=True)
class Run:
    pipeline: str
    documents: int
    chunks: int
    seconds: float
    requests: int
    stages_s: dict[str, float] | None = None

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
def embeddings_server(delay_s: float) -> Iterator[str]:
    """A local embeddings API in its own process, so it does not share this one's interpreter lock."""
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(delay_s, theirs), daemon=True)
    process.start()
    try:
        yield str(ours.recv())
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


def table(api: list[Run], local: LocalRun | None, delay_s: float) -> str:
    lines = [f"(a) embeddings API answering after {delay_s * 1000:g} ms per request, {MODEL}"]
    lines.append(
        f"{'pipeline':<10} {'documents':>9} {'chunks':>7} {'requests':>8} {'seconds':>8} {'chunks/s':>9}"
    )
    for r in api:
        lines.append(
            f"{r.pipeline:<10} {r.documents:>9} {r.chunks:>7} {r.requests:>8} {r.seconds:>8.2f} "
            f"{r.chunks_per_s:>9.1f}"
        )
    lines += [f"{r.pipeline} stages: {_stages(r.stages_s)}" for r in api if r.stages_s]
    for r in api[1:]:
        ratio = r.chunks_per_s / api[0].chunks_per_s
        verdict = "meets" if ratio >= GOAL_RATIO else "misses"
        lines.append(f"ratio {r.pipeline}/tutorial: {ratio:.1f}x ({verdict} the {GOAL_RATIO:g}x goal)")
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


def _stages(stages: dict[str, float] | None) -> str:
    return ", ".join(f"{stage} {s:.2f} s" for stage, s in (stages or {}).items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--abstracts", type=int, default=600, help="SciFact abstracts for (a) (default 600)")
    parser.add_argument("--local-abstracts", type=int, default=200, help="for (b); 0 skips it (default 200)")
    parser.add_argument("--per-document", type=int, default=300, help="abstracts per document (default 300)")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="per embeddings request (default 50)")
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="corpus.jsonl.gz of BEIR SciFact")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if min(args.abstracts, args.per_document) < 1 or args.local_abstracts < 0 or args.delay_ms < 0:
        parser.error("abstracts and per-document must be positive, the others not negative")
    corpus = scifact_corpus(args.abstracts, args.per_document, args.scifact)
    delay_s = args.delay_ms / 1000
    api: list[Run] = []
    local: LocalRun | None = None
    with throwaway_server() as (url, folder), embeddings_server(delay_s) as base_url:
        env = {
            "DATABASE_URL": url,
            "DATA_DIR": str(folder),
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": base_url,
        }
        with console_for(**env, KNOWLEDGE_BASE="tutorial") as console:
            client = openai.OpenAI(api_key="sk-bench", base_url=base_url)
            api.append(tutorial_pipeline(console, client, corpus))
            print(table(api, None, delay_s), file=sys.stderr)
        with console_for(**env, KNOWLEDGE_BASE="console") as console:
            api.append(console_pipeline(console, corpus))
        with console_for(**env, KNOWLEDGE_BASE="console-2") as console:
            api.append(files_at_once_pipeline(console, corpus, folder / "corpus", files_at_once=2))
        settings = console.settings
        print(table(api, None, delay_s), file=sys.stderr)
        if args.local_abstracts:
            local_corpus = scifact_corpus(args.local_abstracts, args.per_document, args.scifact)
            with console_for(DATABASE_URL=url, DATA_DIR=str(folder), KNOWLEDGE_BASE="local") as console:
                local = local_run(console, local_corpus)
    print(table(api, local, delay_s))
    if args.json:
        report = {
            "delay_ms": args.delay_ms,
            "per_document": args.per_document,
            "cpus": os.cpu_count(),
            "settings": {
                "embedding_batch_size": settings.embedding_batch_size,
                "embedding_concurrency": settings.embedding_concurrency,
                "embedding_requests_per_minute": settings.embedding_requests_per_minute,
                "chunk_tokens": settings.chunk_tokens,
            },
            "api": [{**asdict(r), "chunks_per_s": r.chunks_per_s} for r in api],
            "ratio": api[1].chunks_per_s / api[0].chunks_per_s,
            "ratio_files_at_once": api[2].chunks_per_s / api[0].chunks_per_s,
            "local": None
            if local is None
            else {**asdict(local), "chunks_per_s": local.chunks_per_s, "model_share": local.model_share},
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
