"""The keyword leg on a knowledge base's pg_textsearch bm25 index (rag/library/keyword_index.py).

Same contract as the portable leg in rag/retrieval/search.py: up to `depth` chunk ids ranked by
BM25 (k1 = 1.2, b = 0.75), with the BM25 score and the idf weight of the question words each
holds (`matched_idf`, for the coverage evidence, from the same `terms` as the portable path). The
index ranks every chunk holding any question word and returns the exact top `depth` without
scoring them all (Block-Max WAND), so no candidate budget is needed.

Where it differs from the portable scores: a chunk's length is its count of words (the portable
path counts distinct lexemes), a word repeated in the question counts as often as it appears, and
the index's document frequencies include deleted chunks until VACUUM has passed.
"""

from __future__ import annotations

# `<@>` is the negated BM25 score (an index scan orders ascending). A chunk holding no question
# word scores 0: it is no keyword hit. The knowledge base is checked again above the LIMIT, which
# the planner cannot drop as it drops a partial index's own predicate.
KEYWORD_LEG = (
    "SELECT k.id, row_number() OVER (ORDER BY k.score, k.id) AS rank, -k.score AS bm25, "
    "(SELECT coalesce(sum(t.idf), 0) FROM terms t WHERE t.lexeme = ANY (tsvector_to_array(k.tsv))) "
    "AS matched_idf FROM ("
    "SELECT c.id, c.knowledge_base_id, c.tsv, c.text <@> to_bm25query(:text, :keyword_index) AS score "
    "FROM chunks c WHERE c.knowledge_base_id = :kb ORDER BY score LIMIT :depth) AS k "
    "WHERE k.score < 0 AND k.knowledge_base_id = :kb"
)


def textsearch_keyword_leg() -> str:
    """The `keyword` step of the retrieval statement when the knowledge base has a bm25 index."""
    return KEYWORD_LEG
