"""The parse worker, `python -m rag.parsing.sandbox_worker`, started and fed by `rag.parsing.sandbox`.

It imports the parsers once, then forks a child for each file (the worker has a single thread,
so forking is safe): the child parses under a memory limit, and the worker kills it at the
deadline. Requests arrive on stdin and replies leave on stdout, as `frames` messages.

Request: a JSON object {parser: "module:function", filename, timeout_s, memory_mb}, then the file's
bytes. Reply: a JSON object {outcome, growth_kb: the child's peak memory growth in kB or -1, ...}:
"ok" with `document` (`ParsedDocument.to_json`), "rejected" with `message`, "timeout", "memory",
or "crashed" with `detail`. The worker passes a child's reply on as it came, bounded in size but
never decoded: the app, which has nothing to gain from trusting it, checks it.
"""

from __future__ import annotations

import importlib
import math
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import NoReturn

from rag.errors import RejectedFile
from rag.parsing import frames
from rag.parsing.document import ParsedDocument
from rag.parsing.warm_up import warm_up

Reply = dict[str, object]
Parser = Callable[[str, bytes], ParsedDocument]

_OUT_OF_MEMORY = 75  # the child's exit status after a MemoryError it could not report
_PROTOCOL_FDS: list[int] = []  # the worker's ends of its pipes to the app
_MAX_REQUEST_BYTES = 64 * 1024  # a request's JSON part; the file's bytes follow as their own message


def main() -> None:
    warm_up()
    requests = sys.stdin.fileno()
    replies = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt the replies
    _PROTOCOL_FDS.extend([requests, replies])
    while True:
        try:
            request = frames.receive_json(requests, max_bytes=_MAX_REQUEST_BYTES)
            data = frames.receive_bytes(requests, max_bytes=sys.maxsize)
        except frames.ChannelClosed:
            return  # the app has gone
        match request:
            case {
                "parser": str(name),
                "filename": str(filename),
                "timeout_s": float(timeout_s),
                "memory_mb": int(mb),
            }:
                frames.send_bytes(replies, serve(_parser(name), filename, data, timeout_s, mb))
            case _:
                raise ValueError(f"unexpected request: {request!r}")
        del data


def serve(parser: Parser, filename: str, data: bytes, timeout_s: float, memory_mb: int) -> bytes:
    """The reply to pass on to the app: the child's, or the worker's own when the child gave none."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        # Only the worker talks to the app: should the worker die, the app must see the pipe close.
        for fd in [read_fd, *_PROTOCOL_FDS]:
            os.close(fd)
        _child(write_fd, parser, filename, data, timeout_s, memory_mb)
    os.close(write_fd)
    reply: bytes | Reply | None = None
    try:
        reply = frames.receive_bytes(
            read_fd, time.monotonic() + timeout_s, max_bytes=frames.reply_limit(memory_mb)
        )
    except frames.ChannelTimeout:
        os.kill(pid, signal.SIGKILL)
        reply = {"outcome": "timeout"}
    except frames.MalformedMessage:
        os.kill(pid, signal.SIGKILL)
        reply = {"outcome": "crashed", "detail": "its reply was too long"}
    except frames.ChannelClosed:
        pass
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if isinstance(reply, bytes):
        return reply
    return frames.encode_json({**(reply or _death(status)), "growth_kb": -1})


def _parser(name: str) -> Parser:
    module, _, function = name.partition(":")
    parser = getattr(importlib.import_module(module), function)
    if not callable(parser):
        raise TypeError(f"{name} is not a parser")
    return parser  # type: ignore[no-any-return]


def _child(fd: int, parser: Parser, filename: str, data: bytes, timeout_s: float, memory_mb: int) -> NoReturn:
    code = 0
    try:
        _limit(timeout_s, memory_mb)
        start_kb = _restart_peak()
        reply = _parse(parser, filename, data)
        growth_kb = _status_kb("VmHWM") - start_kb if start_kb >= 0 else -1
        frames.send_json(fd, {**reply, "growth_kb": growth_kb})
    except MemoryError:
        code = _OUT_OF_MEMORY
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def _restart_peak() -> int:
    """Start the peak resident set afresh (a fork inherits the worker's), and return the current one."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return -1
    return _status_kb("VmRSS")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _limit(timeout_s: float, memory_mb: int) -> None:
    # The worker kills the child at the deadline; the CPU limit only matters if the worker died.
    cpu = math.ceil(timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # The bound is on growth: the address space the warm parsers already hold comes on top.
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * resource.getpagesize()
    except OSError:  # no /proc (macOS, which does not enforce RLIMIT_AS anyway): time bound only
        return
    limit = current + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _parse(parser: Parser, filename: str, data: bytes) -> Reply:
    try:
        return {"outcome": "ok", "document": parser(filename, data).to_json()}
    except RejectedFile as exc:
        # Parsers turn anything their library raises into "damaged"; running out of memory is not.
        return (
            {"outcome": "memory"} if _caused_by_memory(exc) else {"outcome": "rejected", "message": str(exc)}
        )
    except MemoryError:
        return {"outcome": "memory"}
    except Exception as exc:
        traceback.print_exc()
        return {"outcome": "crashed", "detail": type(exc).__name__}


def _caused_by_memory(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, MemoryError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _death(status: int) -> Reply:
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _OUT_OF_MEMORY:
        return {"outcome": "memory"}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return {"outcome": "timeout"}
        if sig == signal.SIGKILL:  # not ours (we reply "timeout" for those): the kernel's OOM killer
            return {"outcome": "memory"}
        return {"outcome": "crashed", "detail": signal.Signals(sig).name}
    return {"outcome": "crashed", "detail": f"exit status {os.WEXITSTATUS(status)}"}


if __name__ == "__main__":
    main()
