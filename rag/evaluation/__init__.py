"""Retrieval quality on a public benchmark: BEIR datasets, ranking metrics, the harness."""

from rag.evaluation.beir import BeirDataset, BeirDocument, load_beir
from rag.evaluation.corpus import CorpusSync, eval_knowledge_base_name, open_eval_console, sync_corpus
from rag.evaluation.golden import load_golden_set
from rag.evaluation.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from rag.evaluation.runner import EvaluationReport, evaluate

__all__ = [
    "BeirDataset",
    "BeirDocument",
    "CorpusSync",
    "EvaluationReport",
    "eval_knowledge_base_name",
    "evaluate",
    "load_beir",
    "load_golden_set",
    "mrr_at_k",
    "ndcg_at_k",
    "open_eval_console",
    "percentile",
    "recall_at_k",
    "sync_corpus",
]
