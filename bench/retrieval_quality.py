"""Does a retrieval setting change answer quality? `python -m bench.retrieval_quality`.

Not a test. Runs the project's evaluation harness (`rag.evaluation`: the same code as
`python -m rag eval`) on each collection (SciFact by default; Cranfield from `python -m
bench.cranfield`) in a throwaway embedded PostgreSQL for each HNSW index type and `ef_search`, in
each mode and, for hybrid, each fusion rule, and prints nDCG@10 and recall@10 side by side. The local
model's vectors come from bench/retrieval.py's cache (the harness chunks the corpus exactly as the
cache did, so they are the vectors MiniLM would return); a text not in the cache is embedded.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from bench.retrieval_corpus import RealCorpus, load_real_corpus
from bench.retrieval_index import drop_index
from bench.throwaway import throwaway_console
from rag.console import Console
from rag.evaluation.beir import load_beir
from rag.evaluation.corpus import open_eval_console, sync_corpus
from rag.evaluation.runner import evaluate
from rag.library.indexes import INDEX_TYPES, ensure_vector_index
from rag.providers.embedder import EmbeddingBatch
from rag.providers.local_embedder import LocalEmbedder
from rag.retrieval.params import FUSIONS, MODES, Fusion, RetrievalParams
from rag.text.tokens import count_tokens


class CachedEmbedder(LocalEmbedder):
    """MiniLM, answering from the benchmark's cache for the texts it holds."""

    def __init__(self, corpus: RealCorpus) -> None:
        super().__init__()
        self._known = dict(zip(corpus.texts, corpus.vectors, strict=True))
        self._known.update(zip(corpus.queries, corpus.query_vectors, strict=True))

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        missing = [t for t in texts if t not in self._known]
        if missing:
            self._known.update(zip(missing, super().embed(missing).vectors, strict=True))
        vectors = np.array([self._known[t] for t in texts], dtype=np.float32).reshape(
            len(texts), self.dimensions
        )
        return EmbeddingBatch(vectors, sum(count_tokens(t) for t in texts))


@dataclass(frozen=True)
class Quality:
    collection: str
    fusion: str  # hybrid's fusion rule ("" for a single leg)
    rrf_k: int | None  # RRF's constant (rrf fusion only)
    index_type: str
    ef_search: int
    mode: str
    ndcg_at_10: float
    recall_at_10: float
    latency_p50_ms: float


@contextmanager
def console_with(embedder: LocalEmbedder) -> Iterator[Console]:
    with throwaway_console("kc-bench-quality-") as console:
        yield replace(console, embedder=embedder)


def with_ef_search(console: Console, ef_search: int) -> Console:
    return replace(console, settings=replace(console.settings, hnsw_ef_search=ef_search))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval_quality", description=__doc__)
    parser.add_argument("--beir", type=Path, nargs="+", default=[Path("/work/shared/data/scifact")])
    parser.add_argument("--cache", type=Path, default=Path("data/bench"))
    parser.add_argument("--ef-search", type=int, nargs="+", default=[40, 64])
    parser.add_argument("--index-types", nargs="+", choices=INDEX_TYPES, default=list(INDEX_TYPES))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["dense", "hybrid"])
    parser.add_argument("--fusions", nargs="+", choices=FUSIONS, default=[RetrievalParams().fusion])
    parser.add_argument("--rrf-k", type=int, nargs="+", default=[RetrievalParams().rrf_k])
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    results: list[Quality] = []
    for folder in args.beir:
        results += measure(folder, args)
    print(
        f"{'collection':<10} {'index':<8} {'ef_search':>9} {'mode':<7} {'fusion':<10} {'nDCG@10':>8} "
        f"{'recall@10':>9} {'p50 ms':>7}"
    )
    for q in results:
        print(_line(q))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(q) for q in results], indent=2) + "\n", encoding="utf-8")
    return 0


def measure(folder: Path, args: argparse.Namespace) -> list[Quality]:
    """One collection's rows: every index type, ef_search, mode and (hybrid) fusion."""
    dataset = load_beir(folder)
    embedder = CachedEmbedder(load_real_corpus(folder, args.cache))
    results: list[Quality] = []
    with console_with(embedder) as console:
        kb_console = open_eval_console(console, "eval:bench")
        sync_corpus(kb_console, dataset)
        for index_type in args.index_types:
            kb = replace(kb_console.kb, index_type=index_type)
            drop_index(kb_console.engine, kb)
            with kb_console.engine.begin() as conn:
                ensure_vector_index(conn, kb)
            for ef in args.ef_search:
                for mode in args.modes:
                    for fusion, rrf_k in _fusions(args) if mode == "hybrid" else [("", None)]:
                        c = with_ef_search(replace(kb_console, kb=kb), ef)
                        if rrf_k is not None:
                            c = replace(c, settings=replace(c.settings, rrf_k=rrf_k))
                        r = evaluate(c, dataset, mode, fusion=retrieval_fusion(fusion) if fusion else None)
                        results.append(
                            Quality(
                                dataset.name,
                                fusion,
                                rrf_k,
                                index_type,
                                ef,
                                mode,
                                r.ndcg_at_10,
                                r.recall_at_10,
                                r.latency_p50_ms,
                            )
                        )
                        print(_line(results[-1]), file=sys.stderr)
    return results


def _fusions(args: argparse.Namespace) -> list[tuple[str, int | None]]:
    """Hybrid's variants: each fusion rule, RRF once per --rrf-k."""
    return [(f, k) for f in args.fusions for k in (args.rrf_k if f == "rrf" else [None])]


def retrieval_fusion(name: str) -> Fusion:
    for fusion in FUSIONS:
        if name == fusion:
            return fusion
    raise ValueError(f"expected fusion in {FUSIONS}")


def _line(q: Quality) -> str:
    fusion = f"{q.fusion} {q.rrf_k}" if q.rrf_k else q.fusion
    return (
        f"{q.collection[:10]:<10} {q.index_type:<8} {q.ef_search:>9} {q.mode:<7} {fusion:<10} "
        f"{q.ndcg_at_10:>8.4f} {q.recall_at_10:>9.4f} "
        f"{q.latency_p50_ms:>7.1f}"
    )


if __name__ == "__main__":
    sys.exit(main())
