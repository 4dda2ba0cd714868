"""The statements that roll up a run of closed UTC days (:from_day to :to_day, :from_at to :to_at).

Each reads only the run's rows (the (is_demo, created_at) indexes) and writes one row set per day.
The figures are those the live queries compute, so a rolled-up day reads exactly like a live one.
"""

from __future__ import annotations

TOP_PER_DAY = 100  # slowest answers kept per day: slowest_answers(limit <= this) reads rollups

TABLES = (
    "rollup_answers",
    "rollup_conversations",
    "rollup_latency",
    "rollup_latency_buckets",
    "rollup_stage_time",
    "rollup_slowest",
    "rollup_errors",
    "rollup_cost",
    "rollup_citations",
    "rollup_document_cost",
    "rollup_people",
)

# Fixed log-scale buckets of total latency: each 5% wide, so a value is known within 5%.
BUCKET = "floor(ln(greatest({ms}, 1)) / ln(1.05))::int"

_DAY = "(created_at AT TIME ZONE 'UTC')::date"
_IN_RUN = "is_demo = :demo AND created_at >= :from_at AND created_at < :to_at"

# The run's finished answers, read once: the answers rows are wide (question, answer, embedding)
# and every rollup but the cost of the calls needs only these columns. The answer figures count
# those `in_figures`; the cost per document counts re-asks too.
_RUN_ANSWERS = f"""
CREATE TEMPORARY TABLE run_answers ON COMMIT DROP AS
SELECT id, {_DAY} AS day, created_at, conversation_id, answered, cost_usd, in_figures, user_name,
       tokens_in + tokens_out AS tokens,
       embed_ms, cache_ms, retrieve_ms, generate_ms, log_ms, first_token_ms, total_ms,
       error_code, cache_hit, saved_usd
FROM answers WHERE {_IN_RUN} AND state <> 'in_progress'
"""

# Each answer's cited documents, once per document and title it recorded: the citations and the
# cost per document both read them.
_RUN_CITED = """
CREATE TEMPORARY TABLE run_cited ON COMMIT DROP AS
SELECT DISTINCT a.day, a.id, a.in_figures, a.tokens, a.cost_usd, s.document_id, s.document_title
FROM answer_sources AS s JOIN run_answers AS a ON a.id = s.answer_id
WHERE s.cited
"""

# The seven stage columns of an answer `a` unpivoted into (position, stage, ms) rows, in the order
# of latency.STAGES, and their percentiles: shared by the rollups and the live query.
STAGE_VALUES = """CROSS JOIN LATERAL (VALUES (1, 'embed_ms', a.embed_ms), (2, 'cache_ms', a.cache_ms),
    (3, 'retrieve_ms', a.retrieve_ms), (4, 'generate_ms', a.generate_ms), (5, 'log_ms', a.log_ms),
    (6, 'first_token_ms', a.first_token_ms), (7, 'total_ms', a.total_ms)) AS s(position, stage, ms)"""

# rollup_stage_time's figures over answers `a` with a total (a missing stage counts 0): summed as
# numeric, exact, so a rolled-up day and a live one agree to the bit whatever order rows come in.
STAGE_SUMS = """count(*),
    coalesce(sum(a.embed_ms::numeric), 0)::float8, coalesce(sum(a.cache_ms::numeric), 0)::float8,
    coalesce(sum(a.retrieve_ms::numeric), 0)::float8, coalesce(sum(a.generate_ms::numeric), 0)::float8,
    coalesce(sum(a.log_ms::numeric), 0)::float8, sum(a.total_ms::numeric)::float8"""
STAGE_PERCENTILES = """percentile_cont(0.5) WITHIN GROUP (ORDER BY s.ms),
    percentile_cont(0.95) WITHIN GROUP (ORDER BY s.ms),
    percentile_cont(0.99) WITHIN GROUP (ORDER BY s.ms)"""

COMPUTE = [
    _RUN_ANSWERS,
    "ANALYZE run_answers",
    _RUN_CITED,
    """
INSERT INTO rollup_answers (day, is_demo, questions, answered, cost_usd, cost_per_answer,
                            unpriced_answers, thumbs_up, thumbs_down, cache_hits, saved_usd)
SELECT a.day, :demo, count(*), count(*) FILTER (WHERE a.answered),
       sum(a.cost_usd), avg(a.cost_usd)::float8, count(*) FILTER (WHERE a.cost_usd IS NULL),
       coalesce(sum(f.up), 0), coalesce(sum(f.down), 0),
       count(*) FILTER (WHERE a.cache_hit), sum(a.saved_usd)
FROM run_answers AS a
LEFT JOIN (SELECT answer_id, count(*) FILTER (WHERE rating = 1) AS up,
                  count(*) FILTER (WHERE rating = -1) AS down
           FROM feedback GROUP BY 1) AS f ON f.answer_id = a.id
WHERE a.in_figures
GROUP BY 1
""",
    # Distinct conversations of any period add up from these: see rag/analytics/cost.py.
    """
INSERT INTO rollup_conversations (day, is_demo, gap_days, conversations)
SELECT c.day, :demo, coalesce(c.day - p.day, 0), count(*)
FROM (SELECT DISTINCT day, conversation_id FROM run_answers
      WHERE in_figures AND conversation_id IS NOT NULL) AS c
CROSS JOIN LATERAL (
    SELECT (max(b.created_at) AT TIME ZONE 'UTC')::date AS day FROM answers AS b
    WHERE b.conversation_id = c.conversation_id AND b.is_demo = :demo AND b.in_figures
      AND b.created_at < c.day::timestamp AT TIME ZONE 'UTC') AS p
GROUP BY 1, 3
""",
    f"""
INSERT INTO rollup_latency (day, is_demo, stage, position, p50, p95, p99)
SELECT a.day, :demo, s.stage, s.position, {STAGE_PERCENTILES}
FROM run_answers AS a
{STAGE_VALUES}
WHERE a.in_figures AND s.ms IS NOT NULL
GROUP BY 1, s.position, s.stage
""",
    f"""
INSERT INTO rollup_latency_buckets (day, is_demo, bucket, answers, min_ms, max_ms, sum_ms)
SELECT day, :demo, {BUCKET.format(ms="total_ms")}, count(*), min(total_ms), max(total_ms), sum(total_ms)
FROM run_answers
WHERE in_figures AND total_ms IS NOT NULL
GROUP BY 1, 3
""",
    f"""
INSERT INTO rollup_stage_time (day, is_demo, answers, embed_ms, cache_ms, retrieve_ms, generate_ms, log_ms,
                               total_ms)
SELECT a.day, :demo, {STAGE_SUMS}
FROM run_answers AS a
WHERE a.in_figures AND a.total_ms IS NOT NULL
GROUP BY 1
""",
    f"""
INSERT INTO rollup_slowest (day, is_demo, answer_id, total_ms, created_at)
SELECT day, :demo, id, total_ms, created_at
FROM (SELECT day, id, total_ms, created_at,
             row_number() OVER (PARTITION BY day ORDER BY total_ms DESC, created_at DESC) AS n
      FROM run_answers WHERE in_figures AND total_ms IS NOT NULL) AS ranked
WHERE n <= {TOP_PER_DAY}
""",
    """
INSERT INTO rollup_errors (day, is_demo, error_code, answers, timeouts)
SELECT day, :demo, error_code, count(*), count(*) FILTER (WHERE error_code = 'timeout')
FROM run_answers
WHERE in_figures AND error_code IS NOT NULL
GROUP BY 1, 3
""",
    f"""
INSERT INTO rollup_cost (day, is_demo, model, purpose, calls, tokens_in, tokens_out, cost_usd, unpriced_calls)
SELECT {_DAY}, :demo, model, purpose, count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),
       sum(cost_usd), count(*) FILTER (WHERE cost_usd IS NULL)
FROM model_calls
WHERE {_IN_RUN}
GROUP BY 1, 3, 4
""",
    """
INSERT INTO rollup_citations (day, is_demo, document_id, document_title, citations)
SELECT day, :demo, document_id, document_title, count(*)
FROM run_cited
WHERE in_figures
GROUP BY 1, 3, 4
""",
    f"""
INSERT INTO rollup_document_cost (day, is_demo, part, document_id, document_title, items, tokens, cost_usd,
                                  unpriced)
SELECT {_DAY}, :demo, 'ingest', document_id, NULL, count(*), coalesce(sum(tokens_in), 0), sum(cost_usd),
       count(*) FILTER (WHERE cost_usd IS NULL)
FROM model_calls
WHERE {_IN_RUN} AND purpose = 'ingest_embedding'
GROUP BY 1, 4
""",
    """
INSERT INTO rollup_document_cost (day, is_demo, part, document_id, document_title, items, tokens, cost_usd,
                                  unpriced)
SELECT day, :demo, 'answers', document_id, document_title, count(*), coalesce(sum(tokens), 0), sum(cost_usd),
       count(*) FILTER (WHERE cost_usd IS NULL)
FROM run_cited
GROUP BY 1, 4, 5
""",
    """
INSERT INTO rollup_people (day, is_demo, user_name, questions, answered, cost_usd, last_question)
SELECT day, :demo, user_name, count(*), count(*) FILTER (WHERE answered), sum(cost_usd), max(created_at)
FROM run_answers
WHERE in_figures
GROUP BY 1, 3
""",
    """
INSERT INTO rollup_days (day, is_demo)
SELECT g.day::date, :demo FROM generate_series(CAST(:from_day AS timestamp), CAST(:to_day AS timestamp),
                                               interval '1 day') AS g(day)
""",
    "DROP TABLE run_cited",
    "DROP TABLE run_answers",
]
