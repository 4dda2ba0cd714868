"""Parse uploads outside the app process, under a time and a memory bound.

A parser that hangs or balloons on a hostile file is killed and the file rejected with a clear
message; the app never runs the parsers itself. Each file is parsed in a fresh fork of a warm
worker process (`sandbox_worker`). Workers are plain subprocesses, not `multiprocessing` ones,
which would re-run the Streamlit page in the child, or fork a process that holds torch threads.
One worker serves one parse at a time; more start when parses overlap, and idle ones are kept.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rag.errors import RejectedFile
from rag.parsing import frames
from rag.parsing.dispatch import parse_document
from rag.parsing.document import ParsedDocument

Parser = Callable[[str, bytes], ParsedDocument]

_MAX_IDLE_WORKERS = 4
# Beyond the parse deadline, for the worker to start (first use), fork and hand the result back.
_WORKER_GRACE_S = 30.0
_MAX_MESSAGE_CHARS = 2000  # a rejection's message or a crash's detail, shown to the uploader
_INHERITED = frozenset({"PATH", "HOME", "TMPDIR", "TEMP", "TMP", "LANG", "LANGUAGE", "TZ", "SYSTEMROOT"})


class MalformedReply(RejectedFile):
    """The parse worker's reply was not one it may send: the file is refused and the worker stopped."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"This file could not be read: the parsing process sent a malformed reply ({problem})."
        )


@dataclass(frozen=True)
class ParseLimits:
    timeout_s: float
    memory_mb: int


@dataclass(frozen=True)
class ParseStats:
    seconds: float  # in this process: sending the file, parsing in the child, receiving the result
    peak_growth_mb: float | None  # the child's peak resident memory above its start; None: unknown


Measure = Callable[[ParseStats], None]


def prewarm() -> None:
    """Start a worker in the background, so the first upload does not wait for it (0.2-0.8 s)."""

    def start() -> None:
        _POOL.release(_POOL.acquire())

    threading.Thread(target=start, name="parse-prewarm", daemon=True).start()


def parse_isolated(
    filename: str,
    data: bytes,
    *,
    limits: ParseLimits,
    parser: Parser = parse_document,
    measure: Measure | None = None,
) -> ParsedDocument:
    """`parser(filename, data)` in a child process; `RejectedFile` when it fails or breaks a bound.

    `parser` must be importable by name (a module-level function): the worker looks it up.
    `measure`, if given, receives the time and memory the parse took (for benchmarks).
    """
    started = time.perf_counter()
    worker = _POOL.acquire()
    request = {
        "parser": f"{parser.__module__}:{parser.__qualname__}",
        "filename": filename,
        "timeout_s": float(limits.timeout_s),
        "memory_mb": limits.memory_mb,
    }
    try:
        reply = worker.exchange(
            request, data, deadline=time.monotonic() + limits.timeout_s + _WORKER_GRACE_S, limits=limits
        )
    except (frames.ChannelClosed, frames.ChannelTimeout, OSError) as exc:
        worker.stop()
        raise RejectedFile("This file could not be read: the parsing process stopped unexpectedly.") from exc
    except frames.MalformedMessage as exc:
        worker.stop()  # out of step, or worse
        raise MalformedReply(str(exc)) from exc
    except BaseException:
        worker.stop()  # interrupted mid-exchange, its pipes are out of step
        raise
    try:
        document, growth_kb = _result(reply, limits)
    except MalformedReply:
        worker.stop()
        raise
    except RejectedFile:
        _POOL.release(worker)  # the file was bad, not the worker
        raise
    _POOL.release(worker)
    if measure is not None:
        measure(ParseStats(time.perf_counter() - started, growth_kb / 1024 if growth_kb >= 0 else None))
    return document


def stop_workers() -> None:
    """Stop the idle workers: the next parse starts a fresh one (which reads the environment anew)."""
    _POOL.stop_all()


def worker_environment() -> dict[str, str]:
    """The environment a worker starts with: what Python and the parsers' libraries read, no more.

    An allow-list, so settings and secrets (OPENAI_API_KEY, DATABASE_URL, any added later) stay out
    of the process that reads hostile bytes.
    """
    env = {k: v for k, v in os.environ.items() if k in _INHERITED or k.startswith("LC_")}
    # The worker must import what this process can: the project and any test parsers.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def _result(reply: object, limits: ParseLimits) -> tuple[ParsedDocument, int]:
    """The document and the child's peak memory growth in kB; `RejectedFile` for any other outcome."""
    if not isinstance(reply, dict) or type(growth_kb := reply.get("growth_kb")) is not int:
        raise MalformedReply("expected an object with an integer growth_kb")
    match reply:
        case {"outcome": "ok", "document": document}:
            try:
                return ParsedDocument.from_json(document), growth_kb
            except ValueError as exc:
                raise MalformedReply(str(exc)) from exc
        case {"outcome": "rejected", "message": str(message)} if len(message) <= _MAX_MESSAGE_CHARS:
            raise RejectedFile(message)
        case {"outcome": "timeout"}:
            raise RejectedFile(
                f"The file took longer than {limits.timeout_s:g} s to read, so it was not stored: it may be "
                "damaged, built to stall readers, or too large (split it)."
            )
        case {"outcome": "memory"}:
            raise RejectedFile(
                f"The file needed more than {limits.memory_mb:,} MB of memory to read, so it was not stored: "
                "it may be damaged, built to exhaust memory, or too large (split it)."
            )
        case {"outcome": "crashed", "detail": str(detail)} if len(detail) <= _MAX_MESSAGE_CHARS:
            raise RejectedFile(f"This file could not be read: the parser stopped unexpectedly ({detail}).")
    raise MalformedReply("unknown outcome or fields")


class _Worker:
    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "rag.parsing.sandbox_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=worker_environment(),
        )

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def exchange(
        self, request: dict[str, object], data: bytes, *, deadline: float, limits: ParseLimits
    ) -> object:
        """The worker's reply, decoded from JSON but not checked."""
        assert self._process.stdin is not None and self._process.stdout is not None
        frames.send_json(self._process.stdin.fileno(), request)
        frames.send_bytes(self._process.stdin.fileno(), data)
        return frames.receive_json(
            self._process.stdout.fileno(), deadline, max_bytes=frames.reply_limit(limits.memory_mb)
        )

    def stop(self) -> None:
        self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []

    def acquire(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                worker.stop()
        return _Worker()

    def release(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < _MAX_IDLE_WORKERS:
                self._idle.append(worker)
                return
        worker.stop()

    def stop_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


_POOL = _Pool()
atexit.register(_POOL.stop_all)
