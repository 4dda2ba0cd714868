"""A cached answer against a fresh one, end to end through `ask`: `python -m bench.cache`.

Not a test. For each sample question, in turn: the question asked for the first time by a user (a
miss: the cache lookups, query embedding, retrieval, generation streamed, logging, storing the entry),
then asked again by the same user in a new conversation with other case and spacing (a hit: looked
up, replayed, logged). Both are timed from the `ask` call until the answer is logged; the time to the
first text is reported too.
The model is the OpenAI-compatible local server streaming with realistic delays, or, with
--offline, the local embedding model and the extractive answerer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa

from bench.service import FIRST_TOKEN_S, TOKEN_S, percentile, questions, service, timed_ask

GOAL_MS = 50.0
ROUNDS = 2


@dataclass(frozen=True)
class Sample:
    path: str  # fresh or cached
    question: str
    first_text_ms: float
    total_ms: float
    cache_hit: bool


@dataclass(frozen=True)
class Summary:
    path: str
    n: int
    p50_ms: float
    p95_ms: float
    first_text_p50_ms: float


def run(*, offline: bool, rounds: int) -> tuple[list[Sample], str]:
    samples: list[Sample] = []
    with service(offline=offline) as svc:
        for round_ in range(rounds):
            user = f"bench-{round_}"  # a new user each round: the first ask is always a miss
            for question in questions():
                a = timed_ask(svc.console, question, user=user)
                samples.append(
                    Sample("fresh", question, a.first_text_ms, a.total_ms, a.result.cached_at is not None)
                )
                again = " ".join(question.upper().split()) + "  "
                b = timed_ask(svc.console, again, user=user)
                samples.append(
                    Sample("cached", question, b.first_text_ms, b.total_ms, b.result.cached_at is not None)
                )
        with svc.console.engine.connect() as conn:
            version = str(conn.execute(sa.text("SHOW server_version")).scalar_one())
    return samples, version


def summarise(samples: list[Sample]) -> list[Summary]:
    out = []
    for path in ("fresh", "cached"):
        total = [s.total_ms for s in samples if s.path == path]
        first = [s.first_text_ms for s in samples if s.path == path]
        out.append(
            Summary(path, len(total), percentile(total, 50), percentile(total, 95), percentile(first, 50))
        )
    return out


def table(summaries: list[Summary], *, offline: bool) -> str:
    mode = (
        "offline (local model, extractive)"
        if offline
        else (
            f"OpenAI-compatible local server, first token {FIRST_TOKEN_S * 1000:.0f} ms, "
            f"{TOKEN_S * 1000:.0f} ms per chunk"
        )
    )
    lines = [f"answer cache, end to end through ask: {mode}", "",
             f"{'path':<8} {'n':>4} {'p50 ms':>9} {'p95 ms':>9} {'first text p50 ms':>18}"]  # fmt: skip
    for s in summaries:
        lines.append(f"{s.path:<8} {s.n:>4} {s.p50_ms:>9.1f} {s.p95_ms:>9.1f} {s.first_text_p50_ms:>18.1f}")
    fresh, cached = summaries
    verdict = "met" if cached.p50_ms <= GOAL_MS else "NOT met"
    lines += ["", f"cached p50 is {fresh.p50_ms / cached.p50_ms:.0f}x faster than fresh; "
              f"goal cached p50 <= {GOAL_MS:.0f} ms: {verdict}"]  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cache", description=__doc__)
    parser.add_argument("--offline", action="store_true", help="local model and extractive answerer")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"passes over the questions ({ROUNDS})")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("rounds must be positive")
    samples, version = run(offline=args.offline, rounds=args.rounds)
    if any(s.cache_hit != (s.path == "cached") for s in samples):
        print("warning: a first question hit the cache or a repeated one missed it", file=sys.stderr)
    summaries = summarise(samples)
    print(table(summaries, offline=args.offline))
    if args.json:
        report = {
            "offline": args.offline,
            "first_token_s": None if args.offline else FIRST_TOKEN_S,
            "token_s": None if args.offline else TOKEN_S,
            "goal_ms": GOAL_MS,
            "cpus": os.cpu_count(),
            "postgres": version,
            "summary": [asdict(s) for s in summaries],
            "samples": [asdict(s) for s in samples],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
