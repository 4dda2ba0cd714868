"""Offline answers end to end, the extractive answerer before and after: `python -m bench.answer_latency`.

Not a test. On a throwaway embedded PostgreSQL with the sample knowledge base ingested with the local
model, every answerable sample question (`samples/questions.json`) is asked through `prepare` +
`stream` (what the chat page calls), read to the last word, with the answer cache off so each ask
does the whole work. Three consoles share the database: `before` runs the answerer as it was
(every candidate sentence embedded on every question, PyTorch's default threads), kept below as
`BaselineGenerator`; `after` runs the product's `ExtractiveGenerator` and `LocalEmbedder`, whose
sentence cache fills as questions are asked; `uncached` is `after` with that cache off, so every
answer pays for all its sentences (the first question on passages nobody asked about yet). They
take turns on each question (the order rotates each round), so load from other work on the machine
falls on all alike. Reported per answerer: p50/p95 of the whole ask and of each logged stage, the
first round alone, the tokens the answerer embedded, how many answers contain the expected words,
and the ratios to `before`. The goal is an offline p50 of 1 s or less from the call to the last word.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from bench.service import QUESTIONS_FILE, percentile, service, timed_ask
from rag.console import Console
from rag.providers.embedder import Embedder, timed_embed
from rag.providers.extractive import ExtractiveGenerator
from rag.providers.generator import AnswerRequest, Generation, Source, Usage
from rag.providers.local_embedder import LocalEmbedder
from rag.text.sentences import split_sentences
from rag.text.tokens import count_tokens
from rag.usage.calls import CallRecord

GOAL_MS = 1000.0
ROUNDS = 3
STAGES = ("embed", "retrieve", "generate", "first_token", "log", "total")
ANSWERERS = ("before", "uncached", "after")
WARM_UP = "What does the knowledge base say about support hours?"  # not a sample question


@dataclass(frozen=True)
class Sample:
    answerer: str  # before, uncached or after
    round: int
    question: str
    wall_ms: float  # from the prepare call to the last word, as the reader sees it
    stages_ms: dict[str, float | None]  # as logged in `answers`
    answer_id: int
    answer: str
    contains_expected: bool


@dataclass(frozen=True)
class Summary:
    answerer: str
    n: int
    p50_ms: float
    p95_ms: float
    stages_p50_ms: dict[str, float]
    generate_p95_ms: float
    embedded_tokens_p50: float  # what the answerer embedded per answer (model_calls, answer_embedding)
    expected_found: int
    same_as_before: int  # answers word for word those of `before` to the same question in the same round
    cold_p50_ms: float  # first round only: nothing remembered from an earlier ask


class BaselineGenerator:
    """The extractive answerer as it was: the question and every candidate sentence embedded each time."""

    mode = "offline"
    model = "extractive"
    max_sentences, min_words, near_best, passage_weight = 3, 3, 0.12, 0.3

    def __init__(self, *, embedder: Embedder) -> None:
        self._embedder = embedder

    def generate(self, request: AnswerRequest) -> Generation:
        calls: list[CallRecord] = []
        picked = self._select(request, calls)
        text = " ".join(f"{sentence} [{passage.number}]" for passage, _, sentence in picked)
        usage = Usage(tokens_in=sum(c.tokens_in for c in calls), tokens_out=count_tokens(text))
        generation = Generation(iter(re.findall(r"\S+\s*", text)), model=self.model, usage=usage)
        generation.calls.extend(calls)
        return generation

    def _select(self, request: AnswerRequest, calls: list[CallRecord]) -> list[tuple[Source, int, str]]:
        candidates = list(self._candidates(request.passages))
        if not candidates:
            return []
        texts = [request.question] + [sentence for _, _, sentence in candidates]
        batch = timed_embed(self._embedder, texts, purpose="answer_embedding", calls=calls)
        similarity = batch.vectors[1:] @ batch.vectors[0]
        passage_scores = np.array([passage.score for passage, _, _ in candidates])
        scores = (1 - self.passage_weight) * similarity + self.passage_weight * passage_scores
        best = float(scores.max())
        ranked = [candidates[i] for i in np.argsort(-scores) if scores[i] >= best - self.near_best]
        return sorted(ranked[: self.max_sentences], key=lambda c: (c[0].number, c[1]))

    def _candidates(self, passages: Sequence[Source]) -> Iterator[tuple[Source, int, str]]:
        seen: set[str] = set()
        for passage in passages:
            for order, sentence in enumerate(split_sentences(passage.text)):
                sentence = " ".join(sentence.split())
                heading = sentence[-1] not in ".!?:;)\"'" and not any(ch.isdigit() for ch in sentence)
                if len(sentence.split()) < self.min_words or sentence.lower() in seen or heading:
                    continue
                seen.add(sentence.lower())
                yield passage, order, sentence


def sample_questions() -> list[tuple[str, str]]:
    """The answerable sample questions and the words their answer should contain."""
    items = json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))
    return [(q["question"], q["answer_contains"]) for q in items if q["document"]]


def run(*, rounds: int) -> tuple[list[Sample], dict[int, int], dict[str, object]]:
    samples: list[Sample] = []
    # Before any model is loaded: the thread count the old answerer ran with.
    default_threads = _torch_threads()
    with service(offline=True, ANSWER_CACHE="off") as svc:
        after = svc.console
        old_embedder = LocalEmbedder(threads=default_threads)
        before = dataclasses.replace(
            after, embedder=old_embedder, generator=BaselineGenerator(embedder=old_embedder)
        )
        uncached = dataclasses.replace(
            after, generator=ExtractiveGenerator(embedder=after.embedder, cache_entries=0)
        )
        consoles = {"before": before, "uncached": uncached, "after": after}
        for name, console in consoles.items():
            timed_ask(console, WARM_UP, user=f"warm-up-{name}")
        for round_ in range(rounds):
            shift = round_ % len(consoles)
            order = [*consoles][shift:] + [*consoles][:shift]
            for question, expected in sample_questions():
                for name in order:
                    samples.append(_ask(name, consoles[name], question, expected, round_))
        tokens = _embedded_tokens(after, [s.answer_id for s in samples])
        with after.engine.connect() as conn:
            version = str(conn.execute(sa.text("SHOW server_version")).scalar_one())
    environment: dict[str, object] = {
        "cpus": os.cpu_count(),
        "postgres": version,
        "threads_before": default_threads,
        "threads_after": _torch_threads_of(after),
        "load_average": os.getloadavg(),
    }
    return samples, tokens, environment


def _ask(name: str, console: Console, question: str, expected: str, round_: int) -> Sample:
    timed = timed_ask(console, question, user=f"bench-{name}")
    answer = timed.result
    found = expected.lower() in answer.answer.lower()
    timings = dict(answer.timings_ms)
    return Sample(name, round_, question, timed.total_ms, timings, answer.answer_id, answer.answer, found)


def _embedded_tokens(console: Console, answer_ids: list[int]) -> dict[int, int]:
    query = sa.text(
        "SELECT answer_id, sum(tokens_in) FROM model_calls"
        " WHERE purpose = 'answer_embedding' AND answer_id = ANY(:ids) GROUP BY answer_id"
    )
    with console.engine.connect() as conn:
        return {int(a): int(t) for a, t in conn.execute(query, {"ids": answer_ids})}


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _torch_threads_of(console: Console) -> int | None:
    embedder = console.embedder
    return embedder.threads if isinstance(embedder, LocalEmbedder) else None


def summarise(samples: list[Sample], tokens: dict[int, int]) -> list[Summary]:
    out = []
    before = {(s.round, s.question): s.answer for s in samples if s.answerer == "before"}
    for name in ANSWERERS:
        mine = [s for s in samples if s.answerer == name]
        stage = {k: [v for s in mine if (v := s.stages_ms.get(k)) is not None] for k in STAGES}
        out.append(
            Summary(
                answerer=name,
                n=len(mine),
                p50_ms=percentile([s.wall_ms for s in mine], 50),
                p95_ms=percentile([s.wall_ms for s in mine], 95),
                stages_p50_ms={k: percentile(v, 50) for k, v in stage.items()},
                generate_p95_ms=percentile(stage["generate"], 95),
                embedded_tokens_p50=percentile([float(tokens.get(s.answer_id, 0)) for s in mine], 50),
                expected_found=sum(s.contains_expected for s in mine),
                same_as_before=sum(s.answer == before.get((s.round, s.question)) for s in mine),
                cold_p50_ms=percentile([s.wall_ms for s in mine if s.round == 0], 50),
            )
        )
    return out


def table(summaries: list[Summary], environment: dict[str, object]) -> str:
    head = (
        f"{'answerer':<8} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'round 1 p50':>11} "
        + " ".join(f"{k + ' p50':>15}" for k in STAGES[:-1])
        + f" {'generate p95':>12} {'tokens p50':>10} {'expected':>8} {'same':>7}"
    )
    lines = [
        "offline answers end to end (prepare + stream to the last word, answer cache off)",
        f"threads: before {environment['threads_before']}, after {environment['threads_after']}; "
        f"load average at the end {environment['load_average']}",
        "",
        head,
    ]
    for s in summaries:
        lines.append(
            f"{s.answerer:<8.8} {s.n:>4} {s.p50_ms:>8.1f} {s.p95_ms:>8.1f} {s.cold_p50_ms:>11.1f} "
            + " ".join(f"{s.stages_p50_ms[k]:>15.1f}" for k in STAGES[:-1])
            + f" {s.generate_p95_ms:>12.1f} {s.embedded_tokens_p50:>10.0f}"
            + f" {s.expected_found:>5}/{s.n} {s.same_as_before:>4}/{s.n}"
        )
    before = summaries[0]
    lines.append("")
    for s in summaries[1:]:
        verdict = "met" if s.p50_ms <= GOAL_MS else "NOT met"
        lines.append(
            f"{s.answerer}: {before.p50_ms / s.p50_ms:.1f}x faster than before at p50 "
            f"({before.p95_ms / s.p95_ms:.1f}x at p95, "
            f"{before.cold_p50_ms / s.cold_p50_ms:.1f}x in round 1); goal p50 <= {GOAL_MS:.0f} ms: {verdict}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answer_latency", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"passes over the questions ({ROUNDS})")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("rounds must be positive")
    samples, tokens, environment = run(rounds=args.rounds)
    summaries = summarise(samples, tokens)
    print(table(summaries, environment))
    if args.json:
        report = {
            "goal_ms": GOAL_MS,
            **environment,
            "summary": [asdict(s) for s in summaries],
            "samples": [asdict(s) | {"embedded_tokens": tokens.get(s.answer_id, 0)} for s in samples],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
