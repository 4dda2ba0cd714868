"""Parsers that misbehave on purpose, for the sandbox tests (the worker imports them by name)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import time
from collections.abc import Callable

from rag.errors import RejectedFile
from rag.parsing import ParsedDocument, Section

ParserFn = Callable[[str, bytes], ParsedDocument]


def sleeps(filename: str, data: bytes) -> ParsedDocument:
    """Sleeps `data` seconds, then returns a document."""
    time.sleep(float(data))
    return ParsedDocument(title=filename, kind="text", sections=[Section(text="slept")])


def allocates(filename: str, data: bytes) -> ParsedDocument:
    """Holds `data` megabytes at once (pages touched), then returns a document."""
    held = [bytearray(1024 * 1024) for _ in range(int(data))]
    return ParsedDocument(title=filename, kind="text", sections=[Section(text=f"{len(held)} MB")])


def wraps_a_memory_error(filename: str, data: bytes) -> ParsedDocument:
    """As the PDF and DOCX parsers do with whatever their library raises."""
    try:
        bytearray(int(data) * 1024 * 1024)
    except MemoryError as exc:
        raise RejectedFile("This file could not be read: the PDF is damaged or truncated.") from exc
    return ParsedDocument(title=filename, kind="text", sections=[Section(text="fitted")])


def segfaults(filename: str, data: bytes) -> ParsedDocument:
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("unreachable")


def has_a_bug(filename: str, data: bytes) -> ParsedDocument:
    raise ZeroDivisionError("a parser bug")


def kills_its_worker(filename: str, data: bytes) -> ParsedDocument:
    """Kills the worker process that forked it, as the kernel's OOM killer might."""
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(5)
    raise AssertionError("the worker should be gone")


def reports_its_environment(filename: str, data: bytes) -> ParsedDocument:
    """The names of the environment variables the parse child sees, one a line."""
    return ParsedDocument(title=filename, kind="text", sections=[Section(text="\n".join(sorted(os.environ)))])


def writes_its_own_reply(filename: str, data: bytes) -> ParsedDocument:
    """Writes `data` (a whole frame, header included) on its reply pipe, as a hijacked parser could."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        with contextlib.suppress(OSError):
            if fd > 2 and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                os.write(fd, data)
    os._exit(0)


class LeavesAMark:
    """Unpickling it makes the directory `path`: proof that the reader ran code the writer chose."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return os.mkdir, (self.path,)


def frame(payload: bytes) -> bytes:
    return struct.pack("!Q", len(payload)) + payload
