"""Retrieval: pgvector cosine, PostgreSQL full-text, or both fused, in one query.

Each leg ranks its `depth` best chunks. A chunk's fused score is, by `RetrievalParams.fusion`,
reciprocal rank fusion (the default), the sum over legs of weight / (rrf_k + rank), or a convex
combination of the legs' scores (each leg's cosine or BM25 min-max scaled over its own `depth`
candidates, weighted, 0 for a leg that did not return the chunk). Every passage also carries the
evidence the relevance gate weighs (rag/answer/gate.py): its cosine similarity to the question
(whatever the mode), its rank in each leg, and its keyword coverage (the share of the question's idf
weight it contains).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.engine import Connection, Engine

from rag.library.indexes import indexed_expression, vector_type
from rag.library.knowledge_bases import KnowledgeBaseRef
from rag.retrieval.params import RetrievalParams
from rag.retrieval.passage import Passage
from rag.retrieval.textsearch import textsearch_keyword_leg

# Within the posting budget, a lexeme in more than this share of the chunks finds no candidates (the
# rarest lexeme always does): in a small library the budget alone would let chunks sharing only
# common words with the question in, and they crowd out better ones (SciFact's keyword nDCG@10 fell
# from 0.684 to 0.682 without it). From 50,000 chunks on, the budget is the tighter bound.
COMMON_SHARE = 0.05
# In a small library every word is in 5% of the chunks ("team" in 3 of 45): up to this many chunks a
# lexeme still finds candidates, which costs little at that size.
COMMON_FLOOR = 50


def retrieve(
    engine: Engine,
    kb: KnowledgeBaseRef,
    queries: list[str],
    query_vectors: npt.NDArray[np.float32],
    params: RetrievalParams,
) -> list[Passage]:
    """The k best chunks for any of the queries (a chunk keeps its best fused score), numbered 1..k."""
    best: dict[int, sa.Row[tuple[object, ...]]] = {}
    sql = retrieval_query(kb, params.mode)
    with engine.begin() as conn:
        set_scan(conn, kb, params)
        for text, vector in zip(queries, query_vectors, strict=True):
            values = query_values(kb, text, vector, params)
            for row in conn.execute(sql, values):
                if row.id not in best or row.fused > best[row.id].fused:
                    best[row.id] = row
    ranked = sorted(best.values(), key=lambda r: r.fused, reverse=True)[: params.k]
    return [
        Passage(
            number=i,
            chunk_id=r.id,
            document_id=r.document_id,
            document=r.title,
            location=format_location(r.page_start, r.page_end, None if r.heading == r.title else r.heading),
            text=r.text,
            score=float(r.score),
            keyword_coverage=float(r.coverage),
            dense_rank=r.dense_rank,
            keyword_rank=r.keyword_rank,
        )
        for i, r in enumerate(ranked, start=1)
    ]


def set_scan(conn: Connection, kb: KnowledgeBaseRef, params: RetrievalParams) -> None:
    """The HNSW scan settings of the retrieval statement, for the rest of `conn`'s transaction."""
    # Iterative scans keep the index returning `depth` rows even when rows are filtered out.
    conn.execute(sa.text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {params.ef_search_for(_chunk_count(conn, kb))}"))


def _chunk_count(conn: Connection, kb: KnowledgeBaseRef) -> int:
    """The knowledge base's size as its triggers keep it (one primary-key read)."""
    count = conn.execute(
        sa.text("SELECT chunk_count FROM knowledge_bases WHERE id = :kb"), {"kb": kb.id}
    ).scalar_one_or_none()
    return int(count or 0)


def query_values(
    kb: KnowledgeBaseRef, text: str, vector: npt.NDArray[np.float32], params: RetrievalParams
) -> dict[str, object]:
    """The bound parameters of `retrieval_query` for one question."""
    return {
        "q": vector,
        "q_indexed": vector,
        "text": text,
        "kb": kb.id,
        "k": params.k,
        "depth": params.depth,
        "rrf": params.rrf_k,
        "wd": params.dense_weight,
        "wk": params.keyword_weight,
        "convex": params.fusion == "convex",
        "postings": params.candidate_postings,
        "common": COMMON_SHARE,
        "common_floor": COMMON_FLOOR,
        "keyword_index": kb.keyword_index,
    }


def retrieval_query(kb: KnowledgeBaseRef, mode: str) -> sa.TextClause:
    """The one statement `retrieve` runs per question."""
    return sa.text(_retrieval_sql(kb, mode)).bindparams(*_vector_params(kb, mode))


def query_plan(
    conn: Connection,
    kb: KnowledgeBaseRef,
    text: str,
    vector: npt.NDArray[np.float32],
    params: RetrievalParams,
) -> list[str]:
    """PostgreSQL's plan for `retrieval_query`, one line an item: does it use the HNSW index?"""
    statement = sa.text("EXPLAIN " + _retrieval_sql(kb, params.mode))
    values = query_values(kb, text, vector, params)
    return list(conn.execute(statement.bindparams(*_vector_params(kb, params.mode)), values).scalars())


def _vector_params(kb: KnowledgeBaseRef, mode: str) -> list[sa.BindParameter[object]]:
    # The question's vector at full precision, for the scores, and as the index holds it.
    params = [sa.bindparam("q", type_=VECTOR(kb.dimensions))]
    if mode != "keyword":
        params.append(sa.bindparam("q_indexed", type_=vector_type(kb)))
    return params


def _retrieval_sql(kb: KnowledgeBaseRef, mode: str) -> str:
    # The index's expression, compared with a vector of its type: how the planner picks the index.
    distance = f"({indexed_expression(kb)} <=> :q_indexed)"
    # Scores come from the stored full-precision vectors, whatever the index holds.
    exact = f"(c.embedding::vector({int(kb.dimensions)}) <=> :q)"
    dense = (
        f"SELECT id, row_number() OVER (ORDER BY distance) AS rank, 1 - distance AS sim FROM ("
        f"SELECT c.id, {distance} AS distance FROM chunks c WHERE c.knowledge_base_id = :kb "
        f"ORDER BY {distance} LIMIT :depth) AS d"
    )
    # BM25 over the full-text index. The question's lexemes come from the same parser as the
    # documents' (so "NW-4471" matches however PostgreSQL splits it); each matching lexeme adds
    # idf * saturated term frequency (k1 = 1.2, b = 0.75, length in lexemes). Plain ts_rank has no
    # idf: words every chunk contains would outrank the one rare word that matters. Document
    # frequencies are read from lexeme_stats (kept by triggers), never counted per question.
    # Candidates are the chunks holding the rarest lexemes, rarest first while their frequencies
    # sum to at most :postings (the rarest always), leaving out common ones (COMMON_SHARE): an OR of
    # every word would score half the collection for nothing, as a chunk sharing only common words
    # with the question almost never ranks high. Every question lexeme still counts in a
    # candidate's score. setweight + ts_filter keep only the question's lexemes of each candidate
    # before unnesting, so the join stays small.
    keyword_stats = (
        "stats AS (SELECT greatest(chunk_count, 1)::float AS n, "
        "greatest(lexeme_count::float / greatest(chunk_count, 1), 1) AS avgdl "
        "FROM knowledge_bases WHERE id = :kb), "
        "lexemes AS (SELECT DISTINCT u.lexeme FROM unnest(to_tsvector('english', :text)) AS u), "
        "terms AS (SELECT l.lexeme, f.df, ln(1 + (s.n - f.df + 0.5) / (f.df + 0.5)) AS idf "
        "FROM lexemes l CROSS JOIN stats s CROSS JOIN LATERAL (SELECT coalesce(("
        "SELECT ls.df::float FROM lexeme_stats ls WHERE ls.knowledge_base_id = :kb AND ls.lexeme = l.lexeme"
        "), 0) AS df) AS f), "
        "rarest AS (SELECT lexeme, df, row_number() OVER w AS rarity, sum(df) OVER w AS postings "
        "FROM terms WHERE df > 0 WINDOW w AS (ORDER BY df, lexeme)), "
        "query AS (SELECT (SELECT string_agg(quote_literal(r.lexeme), ' | ') FROM rarest r, stats s "
        "WHERE r.rarity = 1 OR (r.postings <= :postings AND r.df <= greatest(:common * s.n, :common_floor))"
        ")::tsquery AS q, "
        "(SELECT array_agg(lexeme) FROM terms) AS words), "
    )
    keyword = (
        "SELECT id, row_number() OVER (ORDER BY bm25 DESC, id) AS rank, bm25, matched_idf FROM ("
        "SELECT m.id, sum(t.idf * cardinality(u.positions) * 2.2 / (cardinality(u.positions) "
        "+ 1.2 * (0.25 + 0.75 * length(m.tsv) / s.avgdl))) AS bm25, sum(t.idf) AS matched_idf "
        "FROM (SELECT c.id, c.tsv, ts_filter(setweight(setweight(c.tsv, 'D'), 'A', query.words), '{a}') "
        "AS hits FROM chunks c, query WHERE c.knowledge_base_id = :kb AND c.tsv @@ query.q) AS m "
        "CROSS JOIN stats s CROSS JOIN LATERAL unnest(m.hits) AS u "
        "JOIN terms t ON t.lexeme = u.lexeme "
        "GROUP BY m.id ORDER BY bm25 DESC LIMIT :depth) AS k"
    )
    if kb.keyword_index is not None:  # the server's BM25 index: rag/retrieval/textsearch.py
        keyword = textsearch_keyword_leg()
    no_dense = "SELECT NULL::bigint AS id, NULL::bigint AS rank, NULL::float AS sim WHERE false"
    no_keyword = (
        "SELECT NULL::bigint AS id, NULL::bigint AS rank, NULL::float AS bm25, NULL::float AS matched_idf "
        "WHERE false"
    )
    # Keyword coverage: the share of the question's word weight (idf) a chunk contains. A question
    # word no chunk holds still counts in the whole, so an off-topic question covers little.
    coverage = (
        "coalesce(f.matched_idf / nullif((SELECT sum(idf) FROM terms), 0), 0)" if mode != "dense" else "0.0"
    )
    return (
        f"WITH {keyword_stats if mode != 'dense' else ''}"
        f"dense AS ({dense if mode != 'keyword' else no_dense}), "
        f"keyword AS ({keyword if mode != 'dense' else no_keyword}), "
        "fused AS (SELECT COALESCE(dense.id, keyword.id) AS id, "
        f"CASE WHEN :convex THEN {_convex('dense.sim', 'dense.id', ':wd')} + "
        f"{_convex('keyword.bm25', 'keyword.id', ':wk')} ELSE "
        "COALESCE(:wd / (:rrf + dense.rank), 0) + COALESCE(:wk / (:rrf + keyword.rank), 0) END AS fused, "
        "dense.rank AS dense_rank, keyword.rank AS keyword_rank, keyword.bm25, keyword.matched_idf "
        "FROM dense FULL OUTER JOIN keyword ON dense.id = keyword.id) "
        f"SELECT c.id, c.document_id, d.title, c.page_start, c.page_end, c.heading, c.text, "
        f"1 - {exact} AS score, f.fused, f.dense_rank, f.keyword_rank, f.bm25 AS keyword_score, "
        f"{coverage} AS coverage "
        "FROM fused f JOIN chunks c ON c.id = f.id JOIN documents d ON d.id = c.document_id "
        "ORDER BY f.fused DESC, c.id LIMIT :k"
    )


def _convex(score: str, present: str, weight: str) -> str:
    # One leg's share of a convex fusion: its score min-max normalised over the leg's own candidates
    # (the best 1, the `depth`-th 0; 1 when they all tie), 0 for a chunk the leg did not return.
    low, high = f"min({score}) OVER ()", f"max({score}) OVER ()"
    return (
        f"{weight} * CASE WHEN {present} IS NULL THEN 0 "
        f"ELSE COALESCE(({score} - {low}) / NULLIF({high} - {low}, 0), 1) END"
    )


def format_location(page_start: int | None, page_end: int | None, heading: str | None) -> str:
    parts = []
    if page_start is not None:
        parts.append(f"p. {page_start}" if page_end in (None, page_start) else f"pp. {page_start}–{page_end}")
    if heading:
        parts.append(heading)
    return " · ".join(parts)
