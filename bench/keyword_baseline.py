"""The retrieval statement as it was before lexeme_stats: bench/keyword.py's baseline, not product code.

It counted each question lexeme's document frequency live (a GIN scan per lexeme) and took as
candidates every chunk holding a lexeme found in at most 5% of the chunks (or 50).
"""

from __future__ import annotations

import sqlalchemy as sa
from pgvector.sqlalchemy import VECTOR

from rag.library.indexes import indexed_expression, vector_type
from rag.library.knowledge_bases import KnowledgeBaseRef

COMMON_SHARE = 0.05
COMMON_FLOOR = 50


def baseline_query(kb: KnowledgeBaseRef, mode: str) -> sa.TextClause:
    """The old statement; it takes `query_values`' parameters plus `common` and `common_floor`."""
    params = [sa.bindparam("q", type_=VECTOR(kb.dimensions))]
    if mode != "keyword":
        params.append(sa.bindparam("q_indexed", type_=vector_type(kb)))
    return sa.text(_baseline_sql(kb, mode)).bindparams(*params)


def _baseline_sql(kb: KnowledgeBaseRef, mode: str) -> str:
    distance = f"({indexed_expression(kb)} <=> :q_indexed)"
    exact = f"(c.embedding::vector({int(kb.dimensions)}) <=> :q)"
    dense = (
        f"SELECT id, row_number() OVER (ORDER BY distance) AS rank FROM ("
        f"SELECT c.id, {distance} AS distance FROM chunks c WHERE c.knowledge_base_id = :kb "
        f"ORDER BY {distance} LIMIT :depth) AS d"
    )
    keyword_stats = (
        "stats AS (SELECT greatest(chunk_count, 1)::float AS n, "
        "greatest(lexeme_count::float / greatest(chunk_count, 1), 1) AS avgdl "
        "FROM knowledge_bases WHERE id = :kb), "
        "lexemes AS (SELECT DISTINCT u.lexeme FROM unnest(to_tsvector('english', :text)) AS u), "
        "terms AS (SELECT l.lexeme, df.df, s.n, ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) AS idf "
        "FROM lexemes l CROSS JOIN stats s CROSS JOIN LATERAL (SELECT count(*)::float AS df FROM chunks c "
        "WHERE c.knowledge_base_id = :kb AND c.tsv @@ quote_literal(l.lexeme)::tsquery) AS df), "
        "query AS (SELECT coalesce("
        "string_agg(quote_literal(lexeme), ' | ') "
        "FILTER (WHERE df > 0 AND df <= greatest(:common * n, :common_floor)), "
        "string_agg(quote_literal(lexeme), ' | '))::tsquery AS q, array_agg(lexeme) AS words FROM terms), "
    )
    keyword = (
        "SELECT id, row_number() OVER (ORDER BY bm25 DESC, id) AS rank, matched_idf FROM ("
        "SELECT m.id, sum(t.idf * cardinality(u.positions) * 2.2 / (cardinality(u.positions) "
        "+ 1.2 * (0.25 + 0.75 * length(m.tsv) / s.avgdl))) AS bm25, sum(t.idf) AS matched_idf "
        "FROM (SELECT c.id, c.tsv, ts_filter(setweight(setweight(c.tsv, 'D'), 'A', query.words), '{a}') "
        "AS hits FROM chunks c, query WHERE c.knowledge_base_id = :kb AND c.tsv @@ query.q) AS m "
        "CROSS JOIN stats s CROSS JOIN LATERAL unnest(m.hits) AS u "
        "JOIN terms t ON t.lexeme = u.lexeme "
        "GROUP BY m.id ORDER BY bm25 DESC LIMIT :depth) AS k"
    )
    no_dense = "SELECT NULL::bigint AS id, NULL::bigint AS rank WHERE false"
    coverage = "coalesce(f.matched_idf / nullif((SELECT sum(idf) FROM terms), 0), 0)"
    return (
        f"WITH {keyword_stats}"
        f"dense AS ({dense if mode != 'keyword' else no_dense}), "
        f"keyword AS ({keyword}), "
        "fused AS (SELECT COALESCE(dense.id, keyword.id) AS id, "
        "COALESCE(:wd / (:rrf + dense.rank), 0) + COALESCE(:wk / (:rrf + keyword.rank), 0) AS fused, "
        "dense.rank AS dense_rank, keyword.rank AS keyword_rank, keyword.matched_idf "
        "FROM dense FULL OUTER JOIN keyword ON dense.id = keyword.id) "
        f"SELECT c.id, c.document_id, d.title, c.page_start, c.page_end, c.heading, c.text, "
        f"1 - {exact} AS score, f.fused, f.dense_rank, f.keyword_rank, {coverage} AS coverage "
        "FROM fused f JOIN chunks c ON c.id = f.id JOIN documents d ON d.id = c.document_id "
        "ORDER BY f.fused DESC, c.id LIMIT :k"
    )
