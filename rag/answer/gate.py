"""The relevance gate: which retrieved passages an answer may be built from, and how sure it is.

It weighs all the evidence retrieval hands on, not cosine similarity alone: a passage found only by
its words (an exact error code, a product name the embedding model does not know) can carry an
answer, and meaning and words agreeing on a passage count for something.

- **Strong**: cosine >= MIN_RELEVANCE, or the passage holds most of the question's word weight
  (keyword coverage >= MIN_KEYWORD_COVERAGE).
- **Weak**: cosine >= LOW_RELEVANCE *and* a good part of the question's words in the same passage
  (keyword coverage of at least two thirds of MIN_KEYWORD_COVERAGE). Either signal alone is common
  for questions the documents do not answer (the product's name is everywhere; a nearby topic is
  close in meaning); both on one passage rarely. (A place among the keyword leg's first few says
  little in a small library, where every passage sharing a word ranks.)

Strong passages give an answer of high confidence; with only weak ones the answer is given from
them and marked low confidence (shown to the agent, listed on the Unanswered page); with neither,
the question is not answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rag.retrieval.passage import Passage

Confidence = Literal["high", "low"]
LOW_COVERAGE_SHARE = 2 / 3


@dataclass(frozen=True)
class GateLevels:
    min_relevance: float  # cosine for strong evidence
    low_relevance: float  # cosine for weak evidence
    min_keyword_coverage: float  # keyword coverage for strong evidence


@dataclass(frozen=True)
class Verdict:
    relevant: list[Passage]  # what the answerer is shown
    confidence: Confidence | None  # None: nothing relevant, the question is not answered


def judge(passages: Sequence[Passage], levels: GateLevels) -> Verdict:
    strong = [p for p in passages if _strong(p, levels)]
    if strong:
        return Verdict(strong, "high")
    weak = [p for p in passages if _weak(p, levels)]
    return Verdict(weak, "low") if weak else Verdict([], None)


def _strong(p: Passage, levels: GateLevels) -> bool:
    return p.score >= levels.min_relevance or p.keyword_coverage >= levels.min_keyword_coverage


def _weak(p: Passage, levels: GateLevels) -> bool:
    words = p.keyword_coverage >= levels.min_keyword_coverage * LOW_COVERAGE_SHARE
    return p.score >= levels.low_relevance and words
