"""The offline answerer: quotes the retrieved sentences that best answer the question, cited.

No LLM. Each candidate sentence is embedded with the knowledge base's own embedder and scored
by its similarity to the question, blended with the score of the passage it came from. Sentence
vectors are kept in a bounded cache on the answerer (one per console, so per process): the same
passages come back for many questions, and embedding their sentences is most of an answer's time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rag.providers.embedder import Embedder, timed_embed
from rag.providers.generator import AnswerRequest, Generation, Source, Usage
from rag.providers.vector_cache import VectorCache
from rag.text.sentences import split_sentences
from rag.text.tokens import count_tokens
from rag.usage.calls import CallRecord

MAX_SENTENCES = 3
MIN_WORDS = 3
NEAR_BEST = 0.12  # keep sentences scoring within this of the best one
PASSAGE_WEIGHT = 0.3
SENTENCE_CACHE_ENTRIES = 10_000  # about 15 MB of 384-dimension vectors, 60 MB of 1536


@dataclass(frozen=True)
class Candidate:
    passage: Source
    order: int
    text: str


class ExtractiveGenerator:
    mode = "offline"
    model = "extractive"

    def __init__(self, *, embedder: Embedder, cache_entries: int = SENTENCE_CACHE_ENTRIES) -> None:
        self._embedder = embedder
        self.sentence_vectors = VectorCache(max_entries=cache_entries)

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
        question, sentences = self._vectors(request.question, [c.text for c in candidates], calls)
        similarity = sentences @ question
        passage_scores = np.array([c.passage.score for c in candidates])
        scores = (1 - PASSAGE_WEIGHT) * similarity + PASSAGE_WEIGHT * passage_scores
        best = float(scores.max())
        order = list(np.argsort(-scores))
        ranked = [candidates[i] for i in order if scores[i] >= best - NEAR_BEST]
        chosen = ranked[:MAX_SENTENCES]
        # Retrieval's first passage (meaning and words together) always speaks: sentence similarity
        # alone can prefer a near miss ("$390 per year" for a monthly price) over the passage that
        # holds the answer, such as a table row.
        top = min(c.passage.number for c in candidates)
        if not any(c.passage.number == top for c in chosen):
            first = next(candidates[i] for i in order if candidates[i].passage.number == top)
            chosen = [*chosen[: MAX_SENTENCES - 1], first]
        return sorted(chosen, key=lambda c: (c.passage.number, c.order))

    def _vectors(
        self, question: str, sentences: list[str], calls: list[CallRecord]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """The question's vector and the sentences', embedding only the sentences not cached."""
        known = self.sentence_vectors.get_many(sentences)
        missing = [text for text, vector in zip(sentences, known, strict=True) if vector is None]
        # One call for the question and the sentences missing: a model call has its own overhead.
        batch = timed_embed(self._embedder, [question, *missing], purpose="answer_embedding", calls=calls)
        self.sentence_vectors.put_many(missing, batch.vectors[1:])
        fresh = iter(batch.vectors[1:])
        rows = [vector if vector is not None else next(fresh) for vector in known]
        return batch.vectors[0], np.stack(rows)


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
