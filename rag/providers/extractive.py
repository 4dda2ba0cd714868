"""The offline answerer: quotes the retrieved sentences that best answer the question, cited.

No LLM. Each candidate sentence is embedded with the knowledge base's own embedder and scored
by its similarity to the question, blended with the score of the passage it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from rag.providers.embedder import Embedder, timed_embed
from rag.providers.generator import AnswerRequest, Generation, Source, Usage
from rag.text.sentences import split_sentences
from rag.text.tokens import count_tokens
from rag.usage.calls import CallRecord

MAX_SENTENCES = 3
MIN_WORDS = 3
NEAR_BEST = 0.12  # keep sentences scoring within this of the best one
PASSAGE_WEIGHT = 0.3


@dataclass(frozen=True)
class Candidate:
    passage: Source
    order: int
    text: str


class ExtractiveGenerator:
    mode = "offline"
    model = "extractive"

    def __init__(self, *, embedder: Embedder) -> None:
        self._embedder = embedder

    def generate(self, request: AnswerRequest) -> Generation:
        calls: list[CallRecord] = []
        picked = self.select(request, calls)
        text = " ".join(f"{c.text} [{c.passage.number}]" for c in picked)
        usage = Usage(tokens_in=sum(c.tokens_in for c in calls), tokens_out=count_tokens(text))
        generation = Generation(_words(text), model=self.model, usage=usage)
        generation.calls.extend(calls)
        return generation

    def select(self, request: AnswerRequest, calls: list[CallRecord]) -> list[Candidate]:
        candidates = _candidates(request.passages)
        if not candidates:
            return []
        batch = timed_embed(
            self._embedder,
            [request.question] + [c.text for c in candidates],
            purpose="answer_embedding",
            calls=calls,
        )
        similarity = batch.vectors[1:] @ batch.vectors[0]
        passage_scores = np.array([c.passage.score for c in candidates])
        scores = (1 - PASSAGE_WEIGHT) * similarity + PASSAGE_WEIGHT * passage_scores
        best = float(scores.max())
        ranked = [candidates[i] for i in np.argsort(-scores) if scores[i] >= best - NEAR_BEST]
        chosen = ranked[:MAX_SENTENCES]
        return sorted(chosen, key=lambda c: (c.passage.number, c.order))


def _candidates(passages: Sequence[Source]) -> list[Candidate]:
    seen: set[str] = set()
    out: list[Candidate] = []
    for passage in passages:
        for order, sentence in enumerate(split_sentences(passage.text)):
            sentence = " ".join(sentence.split())
            key = sentence.lower()
            # Overlapping chunks repeat sentences: quote each once, from the best-ranked passage.
            if len(sentence.split()) < MIN_WORDS or key in seen or _looks_like_heading(sentence):
                continue
            seen.add(key)
            out.append(Candidate(passage, order, sentence))
    return out


def _looks_like_heading(sentence: str) -> bool:
    # Headings name a topic and answer nothing; they have no closing punctuation and no figures.
    return sentence[-1] not in ".!?:;)\"'" and not any(ch.isdigit() for ch in sentence)


def _words(text: str) -> Iterator[str]:
    yield from re.findall(r"\S+\s*", text)
