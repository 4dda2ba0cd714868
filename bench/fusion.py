"""How should the two legs be fused? `python -m bench.fusion [--beir DIR ...] [--json FILE]`.

Not a test. For each collection (SciFact and Cranfield by default, side by side) it loads the
corpus into a throwaway embedded PostgreSQL as the evaluation harness does, runs the retrieval
statement once per judged query with both legs `--depth` deep, keeps every candidate's evidence
(dense rank and cosine, keyword rank and BM25 score) and then re-ranks those candidates offline
under each fusion rule: reciprocal rank fusion (RRF) over a grid of rrf_k, leg weights and depths,
and convex combinations (CC) of the legs' normalised scores. Each ranking is scored like the
harness (a document ranks at its best chunk; nDCG@10, recall@10). The chosen rule is then checked
end to end by bench/retrieval_quality.py, through `rag.retrieval.search` itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.retrieval_corpus import load_real_corpus
from bench.retrieval_quality import CachedEmbedder, console_with
from rag.evaluation.beir import BeirDataset, load_beir
from rag.evaluation.corpus import document_ids, open_eval_console, sync_corpus
from rag.evaluation.metrics import ndcg_at_k, recall_at_k
from rag.retrieval.params import RetrievalParams
from rag.retrieval.search import query_values, retrieval_query, set_scan

DEFAULT_COLLECTIONS = [Path("/work/shared/data/scifact"), Path("data/bench/cranfield")]


@dataclass(frozen=True)
class Candidate:
    document: str
    dense_rank: int | None
    cosine: float
    keyword_rank: int | None
    bm25: float | None


Query = tuple[list[Candidate], dict[str, int]]  # the candidates, the judgments
Rule = Callable[[list[Candidate]], list[float]]


def collect(folder: Path, cache: Path, depth: int) -> list[Query]:
    """Every judged query's candidates from both legs, `depth` deep."""
    dataset: BeirDataset = load_beir(folder)
    embedder = CachedEmbedder(load_real_corpus(folder, cache))
    out: list[Query] = []
    with console_with(embedder) as console:
        c = open_eval_console(console, f"eval:{dataset.name}")
        sync_corpus(c, dataset)
        ids = document_ids(c.engine, c.kb)
        params = RetrievalParams(mode="hybrid", k=depth, depth=depth, ef_search=max(depth, 128))
        sql = retrieval_query(c.kb, "hybrid")
        queries = dataset.judged_queries()
        vectors = embedder.embed([text for _, text in queries]).vectors
        with c.engine.begin() as conn:
            set_scan(conn, c.kb, params)  # as retrieve
            for (qid, text), vector in zip(queries, vectors, strict=True):
                # Every candidate of both legs: up to 2 x depth rows.
                values = {**query_values(c.kb, text, vector, params), "k": 2 * depth}
                rows = conn.execute(sql, values).all()
                cands = [
                    Candidate(
                        ids[r.document_id],
                        r.dense_rank,
                        float(r.score),
                        r.keyword_rank,
                        None if r.keyword_score is None else float(r.keyword_score),
                    )
                    for r in rows
                ]
                out.append((cands, dataset.qrels[qid]))
    return out


def score(queries: list[Query], rule: Rule) -> tuple[float, float]:
    """Mean nDCG@10 and recall@10 of the documents ranked by `rule` (best chunk first)."""
    ndcg, recall = [], []
    for cands, judged in queries:
        fused = rule(cands)
        order = sorted(range(len(cands)), key=lambda i: -fused[i])
        ranked = list(dict.fromkeys(cands[i].document for i in order if fused[i] > -1e9))
        ndcg.append(ndcg_at_k(ranked, judged, 10))
        recall.append(recall_at_k(ranked, judged, 10))
    return float(np.mean(ndcg)), float(np.mean(recall))


NONE = -1e18


def dense_only(depth: int) -> Rule:
    return lambda cs: [
        -c.dense_rank if c.dense_rank is not None and c.dense_rank <= depth else NONE for c in cs
    ]


def keyword_only(depth: int) -> Rule:
    return lambda cs: [
        -c.keyword_rank if c.keyword_rank is not None and c.keyword_rank <= depth else NONE for c in cs
    ]


def rrf(k: int, wd: float, wk: float, depth: int) -> Rule:
    def fuse(cs: list[Candidate]) -> list[float]:
        out = []
        for c in cs:
            d = wd / (k + c.dense_rank) if c.dense_rank is not None and c.dense_rank <= depth else 0.0
            w = wk / (k + c.keyword_rank) if c.keyword_rank is not None and c.keyword_rank <= depth else 0.0
            out.append(d + w if d or w else NONE)
        return out

    return fuse


def convex(alpha: float, depth: int, norm: str) -> Rule:
    """alpha * dense + (1 - alpha) * keyword, each leg's score normalised over its own `depth` list."""

    def fuse(cs: list[Candidate]) -> list[float]:
        dense = [c for c in cs if c.dense_rank is not None and c.dense_rank <= depth]
        words = [c for c in cs if c.keyword_rank is not None and c.keyword_rank <= depth]
        ds = np.array([c.cosine for c in dense]) if dense else np.zeros(1)
        ks = np.array([c.bm25 for c in words], dtype=float) if words else np.zeros(1)
        out = []
        for c in cs:
            in_d = c.dense_rank is not None and c.dense_rank <= depth
            in_k = c.keyword_rank is not None and c.keyword_rank <= depth
            if not (in_d or in_k):
                out.append(NONE)
                continue
            if norm == "minmax":
                # A candidate outside a leg's list gets that leg's floor (0).
                d = (c.cosine - ds.min()) / (ds.max() - ds.min() or 1) if in_d else 0.0
                k = ((c.bm25 or 0) - ks.min()) / (ks.max() - ks.min() or 1) if in_k else 0.0
            elif norm == "minmax-cos":
                # The cosine is known for every candidate: normalise it even outside the dense list.
                d = max((c.cosine - ds.min()) / (ds.max() - ds.min() or 1), 0.0)
                k = ((c.bm25 or 0) - ks.min()) / (ks.max() - ks.min() or 1) if in_k else 0.0
            elif norm == "max":
                # Raw cosine; BM25 over the list's best (both then run 0..1).
                d = c.cosine
                k = (c.bm25 or 0) / (ks.max() or 1) if in_k else 0.0
            else:  # "z": standard scores, a missing leg at its list's minimum
                d = ((c.cosine if in_d else ds.min()) - ds.mean()) / (ds.std() or 1)
                k = (((c.bm25 or 0) if in_k else ks.min()) - ks.mean()) / (ks.std() or 1)
            out.append(alpha * d + (1 - alpha) * k)
        return out

    return fuse


def rules(depths: Sequence[int]) -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for depth in depths:
        out[f"dense d={depth}"] = dense_only(depth)
        out[f"keyword d={depth}"] = keyword_only(depth)
        for k in (10, 20, 30, 60, 100):
            for wd, wk in ((1.0, 1.0), (1.0, 0.8), (0.8, 1.0), (1.0, 1.25), (1.0, 1.5), (1.0, 0.67)):
                out[f"rrf k={k} wd={wd} wk={wk} d={depth}"] = rrf(k, wd, wk, depth)
        for norm in ("minmax", "minmax-cos", "max", "z"):
            for alpha in (0.3, 0.4, 0.5, 0.6, 0.7):
                out[f"cc {norm} a={alpha} d={depth}"] = convex(alpha, depth, norm)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fusion", description=__doc__)
    parser.add_argument("--beir", type=Path, nargs="+", default=DEFAULT_COLLECTIONS)
    parser.add_argument("--cache", type=Path, default=Path("data/bench"))
    parser.add_argument("--depth", type=int, default=300, help="each leg's depth when collecting")
    parser.add_argument("--depths", type=int, nargs="+", default=[40, 100, 300])
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument(
        "--reuse", action="store_true", help="re-rank the candidates saved by an earlier run (same depth)"
    )
    args = parser.parse_args(argv)
    collected: dict[str, list[Query]] = {}
    for folder in args.beir:
        saved = args.cache / f"fusion-{folder.resolve().name}-d{args.depth}.json"
        if args.reuse and saved.is_file():
            raw = json.loads(saved.read_text(encoding="utf-8"))
            queries = [([Candidate(**c) for c in cands], judged) for cands, judged in raw]
        else:
            queries = collect(folder, args.cache, args.depth)
            saved.write_text(
                json.dumps([([asdict(c) for c in cs], j) for cs, j in queries]), encoding="utf-8"
            )
        collected[folder.resolve().name] = queries
    names = list(collected)
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for label, rule in rules(args.depths).items():
        table[label] = {name: score(queries, rule) for name, queries in collected.items()}
    head = f"{'rule':<36}" + "".join(f" {n[:10]:>10} nDCG {'R@10':>6}" for n in names)
    print(head)
    for label, row in table.items():
        print(f"{label:<36}" + "".join(f" {row[n][0]:>15.4f} {row[n][1]:>6.4f}" for n in names))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            label: {n: {"ndcg@10": round(v[0], 4), "recall@10": round(v[1], 4)} for n, v in row.items()}
            for label, row in table.items()
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
