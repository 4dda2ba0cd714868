"""Retrieval: the passages of a knowledge base that best match a question.

In: the question (and, for a follow-up, the previous question with it), their vectors, and the
`RetrievalParams` (mode, k, depth, fusion weights, ef_search, the keyword leg's candidate budget).
Out: up to k `Passage`s numbered 1..k for citation, each with its cosine similarity to the question.
One SQL statement per query: pgvector's HNSW cosine leg and a BM25 leg over the full-text index,
fused by reciprocal rank.
"""

from rag.retrieval.params import RetrievalMode, RetrievalParams, retrieval_mode
from rag.retrieval.passage import Passage
from rag.retrieval.search import format_location, query_plan, retrieval_query, retrieve

__all__ = [
    "Passage",
    "RetrievalMode",
    "RetrievalParams",
    "format_location",
    "query_plan",
    "retrieval_mode",
    "retrieval_query",
    "retrieve",
]
