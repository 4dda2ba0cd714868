"""Many users at once: concurrent chat sessions against the service layer, `python -m bench.load`.

Not a test. 20 sessions (threads, one user each) ask questions through `ask` for a bounded time
against the OpenAI-compatible local server streaming with realistic delays, each reading its
answer as the chat page would. A session's next question is new (a miss), one its user asked
before (in a new conversation: a cache hit) or a follow-up in the current conversation (never
cached). Reported: answers per second, time to first text p50/p95 (all, misses, hits), errors,
and how long requests waited for a database connection: every checkout of the console's pool is
timed, and pool events count the connections in use.

Each pool configuration (DB_POOL_SIZE:DB_MAX_OVERFLOW) runs in turn in the same process, on the same
database and endpoint, with users of its own so no run reuses another's cache entries.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import Pool

from bench.service import FIRST_TOKEN_S, TOKEN_S, percentile, questions, service
from rag.answer.pipeline import prepare, stream
from rag.console import Console

SESSIONS = 20
DURATION_S = 30.0
REPEAT_SHARE = 0.3  # a question this user asked before, in a new conversation
FOLLOW_UP_SHARE = 0.2  # a follow-up in the current conversation
FOLLOW_UPS = ["And how long does that take?", "Does that apply to annual plans too?", "Who do I contact?"]
POOL_WAIT_GOAL_MS = 100.0


@dataclass(frozen=True)
class Request:
    session: int
    kind: str  # new, repeat, follow-up
    started_s: float  # since the run started
    first_text_ms: float | None
    total_ms: float
    cache_hit: bool
    error: str | None


@dataclass
class PoolMeter:
    """Times every checkout of `pool` (waiting, connecting, pre-ping) and counts connections in use."""

    waits_ms: list[float] = field(default_factory=list)
    in_use: int = 0
    max_in_use: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, pool: Pool) -> None:
        connect = pool.connect

        def timed_connect() -> Any:
            started = time.perf_counter()
            try:
                return connect()
            finally:
                with self.lock:
                    self.waits_ms.append((time.perf_counter() - started) * 1000)

        pool.connect = timed_connect  # type: ignore[method-assign]
        sa.event.listen(pool, "checkout", self._checkout)
        sa.event.listen(pool, "checkin", self._checkin)

    def _checkout(self, *_: object) -> None:
        with self.lock:
            self.in_use += 1
            self.max_in_use = max(self.max_in_use, self.in_use)

    def _checkin(self, *_: object) -> None:
        with self.lock:
            self.in_use -= 1


@dataclass(frozen=True)
class RunSummary:
    pool_size: int
    max_overflow: int
    sessions: int
    seconds: float
    answers: int
    answers_per_s: float
    hits: int
    first_text_p50_ms: float
    first_text_p95_ms: float
    miss_first_text_p50_ms: float
    miss_first_text_p95_ms: float
    hit_first_text_p50_ms: float
    errors: int
    checkouts: int
    pool_wait_p95_ms: float
    pool_wait_max_ms: float
    max_connections_in_use: int


class QuestionSource:
    """A session's questions: the sample questions from its own offset, then pairs of them."""

    def __init__(self, index: int) -> None:
        base = questions()
        rotated = base[index % len(base) :] + base[: index % len(base)]
        pairs = [f"{a} Also: {b}" for a in rotated for b in rotated if a != b]
        self._new = iter(rotated + pairs)
        self.asked: list[str] = []

    def new(self) -> str:
        question = next(self._new)
        self.asked.append(question)
        return question


def session(
    console: Console, index: int, *, label: str, started: float, deadline: float, seed: int
) -> list[Request]:
    rng = random.Random(seed * 1000 + index)
    source = QuestionSource(index)
    user = f"{label}-user-{index}"
    conversation = None
    done: list[Request] = []
    while time.perf_counter() < deadline:
        roll = rng.random()
        if source.asked and roll < REPEAT_SHARE:
            kind, question, conversation = "repeat", rng.choice(source.asked), None
        elif conversation is not None and roll < REPEAT_SHARE + FOLLOW_UP_SHARE:
            kind, question = "follow-up", rng.choice(FOLLOW_UPS)
        else:
            kind, question, conversation = "new", source.new(), None
        request, conversation = _one(console, question, user, conversation, started)
        done.append(Request(index, kind, *request))
    return done


def _one(
    console: Console, question: str, user: str, conversation: Any, run_started: float
) -> tuple[tuple[float, float | None, float, bool, str | None], Any]:
    t0 = time.perf_counter()
    first: float | None = None
    try:
        result = prepare(console, question, user=user, conversation_id=conversation)
        for _ in stream(result):
            if first is None:
                first = time.perf_counter()
        error, hit, conversation = result.error, result.cached_at is not None, result.conversation_id
    except Exception as exc:  # a benchmark counts every failure, whatever it is
        error, hit = f"{type(exc).__name__}: {exc}", False
    t1 = time.perf_counter()
    first_ms = (first - t0) * 1000 if first is not None else None
    return (t0 - run_started, first_ms, (t1 - t0) * 1000, hit, error), conversation


def run_load(
    open_console: Callable[..., Console], *, pool: tuple[int, int], sessions: int, seconds: float, seed: int
) -> tuple[RunSummary, list[Request]]:
    size, overflow = pool
    console = open_console(DB_POOL_SIZE=str(size), DB_MAX_OVERFLOW=str(overflow))
    meter = PoolMeter()
    meter.attach(console.engine.pool)
    results: list[list[Request]] = [[] for _ in range(sessions)]
    started = time.perf_counter()
    deadline = started + seconds
    label = f"load-{size}-{overflow}"

    def work(i: int) -> None:
        results[i] = session(console, i, label=label, started=started, deadline=deadline, seed=seed)

    threads = [threading.Thread(target=work, args=(i,), name=f"session-{i}") for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    console.engine.dispose()
    requests = [r for rs in results for r in rs]
    return summarise(pool, sessions, elapsed, requests, meter), requests


def summarise(
    pool: tuple[int, int], sessions: int, elapsed: float, requests: list[Request], meter: PoolMeter
) -> RunSummary:
    ok = [r for r in requests if r.error is None]
    first = [r.first_text_ms for r in ok if r.first_text_ms is not None]
    misses = [r.first_text_ms for r in ok if r.first_text_ms is not None and not r.cache_hit]
    hits = [r.first_text_ms for r in ok if r.first_text_ms is not None and r.cache_hit]
    return RunSummary(
        pool_size=pool[0],
        max_overflow=pool[1],
        sessions=sessions,
        seconds=round(elapsed, 2),
        answers=len(ok),
        answers_per_s=len(ok) / elapsed,
        hits=sum(r.cache_hit for r in ok),
        first_text_p50_ms=percentile(first, 50),
        first_text_p95_ms=percentile(first, 95),
        miss_first_text_p50_ms=percentile(misses, 50),
        miss_first_text_p95_ms=percentile(misses, 95),
        hit_first_text_p50_ms=percentile(hits, 50),
        errors=len(requests) - len(ok),
        checkouts=len(meter.waits_ms),
        pool_wait_p95_ms=percentile(meter.waits_ms, 95),
        pool_wait_max_ms=max(meter.waits_ms, default=0.0),
        max_connections_in_use=meter.max_in_use,
    )


def table(runs: list[RunSummary]) -> str:
    lines = [
        f"load: {runs[0].sessions} concurrent sessions through ask; OpenAI-compatible local server, "
        f"first token {FIRST_TOKEN_S * 1000:.0f} ms, {TOKEN_S * 1000:.0f} ms per chunk",
        "",
        f"{'pool':>6} {'s':>5} {'answers':>8} {'per s':>6} {'hits':>5} {'TTFT p50':>9} {'p95':>7} "
        f"{'miss p50':>9} {'p95':>7} {'hit p50':>8} {'errors':>7} {'wait p95':>9} {'max':>7} {'in use':>7}",
    ]
    for r in runs:
        ttft = (
            f"{r.first_text_p50_ms:>9.0f} {r.first_text_p95_ms:>7.0f} {r.miss_first_text_p50_ms:>9.0f} "
            f"{r.miss_first_text_p95_ms:>7.0f} {r.hit_first_text_p50_ms:>8.0f}"
        )
        pool = f"{r.pool_wait_p95_ms:>9.1f} {r.pool_wait_max_ms:>7.1f} {r.max_connections_in_use:>7}"
        lines.append(
            f"{r.pool_size:>3}+{r.max_overflow:<2} {r.seconds:>5.0f} {r.answers:>8} {r.answers_per_s:>6.2f} "
            f"{r.hits:>5} {ttft} {r.errors:>7} {pool}"
        )
    lines += [
        "",
        "times in ms; pool wait: each checkout of the console's pool (queueing, connecting, pre-ping)",
    ]
    for r in runs:
        met = r.errors == 0 and r.pool_wait_max_ms <= POOL_WAIT_GOAL_MS
        lines.append(
            f"pool {r.pool_size}+{r.max_overflow}: goal (no errors, no checkout over "
            f"{POOL_WAIT_GOAL_MS:.0f} ms): {'met' if met else 'NOT met'}"
        )
    return "\n".join(lines)


def _pool(text: str) -> tuple[int, int]:
    size, _, overflow = text.partition(":")
    return int(size), int(overflow or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--sessions", type=int, default=SESSIONS, help=f"concurrent sessions ({SESSIONS})")
    parser.add_argument("--seconds", type=float, default=DURATION_S, help=f"per run ({DURATION_S:g})")
    parser.add_argument(
        "--pools", type=_pool, nargs="+", default=[(10, 10)], metavar="SIZE:OVERFLOW",
        help="pool configurations to run in turn (default: 10:10, the settings' default)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.seconds <= 0:
        parser.error("sessions and seconds must be positive")
    runs: list[RunSummary] = []
    every: dict[str, list[dict[str, Any]]] = {}
    with service(offline=False) as svc:
        for pool in args.pools:
            summary, requests = run_load(
                svc.open, pool=pool, sessions=args.sessions, seconds=args.seconds, seed=args.seed
            )
            runs.append(summary)
            every[f"{pool[0]}:{pool[1]}"] = [asdict(r) for r in requests]
            print(table(runs), file=sys.stderr)
    print(table(runs))
    errors = sorted({r["error"] for rs in every.values() for r in rs if r["error"]})
    for error in errors[:10]:
        print(f"error: {error}", file=sys.stderr)
    if args.json:
        report = {
            "first_token_s": FIRST_TOKEN_S,
            "token_s": TOKEN_S,
            "cpus": os.cpu_count(),
            "shares": {"repeat": REPEAT_SHARE, "follow_up": FOLLOW_UP_SHARE},
            "runs": [asdict(r) for r in runs],
            "requests": every,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
