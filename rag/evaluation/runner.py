"""Run a dataset's judged queries through the chat's own retrieval and score the rankings."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from rag.console import Console
from rag.evaluation.beir import BeirDataset
from rag.evaluation.corpus import Counter, document_ids
from rag.evaluation.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from rag.providers.embedder import timed_embed
from rag.retrieval.params import Fusion, retrieval_mode
from rag.retrieval.passage import Passage
from rag.retrieval.search import retrieve
from rag.usage.calls import CallRecord, record_calls

# Chunks fetched per query: enough to rank 100 distinct documents when documents have a few chunks.
CHUNKS_PER_QUERY = 300


@dataclass(frozen=True)
class EvaluationReport:
    knowledge_base: str
    mode: str
    documents: int
    queries: int
    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    latency_p50_ms: float  # the chat's retrieve call (its k and depth) alone, per query
    latency_p95_ms: float
    embedding_ms_per_query: float  # query embedding, batched, averaged over the queries

    def as_json(self) -> dict[str, object]:
        return {
            "ndcg@10": round(self.ndcg_at_10, 4),
            "recall@10": round(self.recall_at_10, 4),
            "recall@100": round(self.recall_at_100, 4),
            "mrr@10": round(self.mrr_at_10, 4),
            "latency_p50_ms": round(self.latency_p50_ms, 2),
            "latency_p95_ms": round(self.latency_p95_ms, 2),
            "embedding_ms_per_query": round(self.embedding_ms_per_query, 2),
            "queries": self.queries,
            "documents": self.documents,
            "mode": self.mode,
            "knowledge_base": self.knowledge_base,
        }

    def as_table(self) -> str:
        rows = [
            ("nDCG@10", f"{self.ndcg_at_10:.4f}"),
            ("recall@10", f"{self.recall_at_10:.4f}"),
            ("recall@100", f"{self.recall_at_100:.4f}"),
            ("MRR@10", f"{self.mrr_at_10:.4f}"),
            ("retrieval p50", f"{self.latency_p50_ms:.1f} ms"),
            ("retrieval p95", f"{self.latency_p95_ms:.1f} ms"),
            ("query embedding", f"{self.embedding_ms_per_query:.1f} ms per query (batched)"),
        ]
        title = (
            f"{self.knowledge_base}: {self.mode} retrieval, {self.queries:,} queries, "
            f"{self.documents:,} documents"
        )
        return "\n".join([title, *(f"  {name:<16} {value}" for name, value in rows)])


def evaluate(
    console: Console,
    dataset: BeirDataset,
    mode: str,
    *,
    limit: int | None = None,
    progress: Counter | None = None,
    fusion: Fusion | None = None,
) -> EvaluationReport:
    """Score `console.kb` (already holding the corpus) on the dataset's judged queries.

    `fusion` overrides how hybrid fuses its legs (bench/retrieval_quality.py compares them).
    """
    if limit is not None and limit < 1:
        raise ValueError("expected limit >= 1")
    settings = console.settings
    retrieval = settings.retrieval if fusion is None else replace(settings.retrieval, fusion=fusion)
    params = replace(
        retrieval,
        mode=retrieval_mode(mode),
        k=CHUNKS_PER_QUERY,
        depth=max(CHUNKS_PER_QUERY, settings.retrieval_depth),
    )
    chat_params = replace(retrieval, mode=params.mode)
    corpus_ids = document_ids(console.engine, console.kb)
    queries = dataset.judged_queries()[:limit]
    report = progress or (lambda _done, _total: None)
    rankings: list[list[str]] = []
    latencies: list[float] = []
    calls: list[CallRecord] = []
    size = settings.embedding_batch_size
    try:
        # The first call may load a local model or open a connection: not part of a query's time.
        timed_embed(console.embedder, [queries[0][1]], purpose="eval_embedding", calls=calls)
        for start in range(0, len(queries), size):
            texts = [text for _, text in queries[start : start + size]]
            vectors = timed_embed(console.embedder, texts, purpose="eval_embedding", calls=calls).vectors
            for i, text in enumerate(texts):
                passages = retrieve(console.engine, console.kb, [text], vectors[i : i + 1], params)
                rankings.append(_documents_ranked(passages, corpus_ids))
                # Latency is the chat's own retrieval call (its k and depth), the wait users see;
                # the ranking above looks deeper only to score recall@100.
                began = time.perf_counter()
                retrieve(console.engine, console.kb, [text], vectors[i : i + 1], chat_params)
                latencies.append((time.perf_counter() - began) * 1000)
                report(len(rankings), len(queries))
    finally:
        record_calls(console.engine, calls, prices=settings.prices, user=settings.default_user)
    judged = [dataset.qrels[qid] for qid, _ in queries]
    return EvaluationReport(
        knowledge_base=console.kb.name,
        mode=mode,
        documents=len(corpus_ids),
        queries=len(queries),
        ndcg_at_10=_mean([ndcg_at_k(r, j, 10) for r, j in zip(rankings, judged, strict=True)]),
        recall_at_10=_mean([recall_at_k(r, j, 10) for r, j in zip(rankings, judged, strict=True)]),
        recall_at_100=_mean([recall_at_k(r, j, 100) for r, j in zip(rankings, judged, strict=True)]),
        mrr_at_10=_mean([mrr_at_k(r, j, 10) for r, j in zip(rankings, judged, strict=True)]),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        embedding_ms_per_query=sum(c.duration_ms for c in calls[1:]) / len(queries),
    )


def _documents_ranked(passages: list[Passage], corpus_ids: dict[int, str]) -> list[str]:
    """Corpus ids in the order of each document's best chunk."""
    return list(dict.fromkeys(corpus_ids[p.document_id] for p in passages))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
