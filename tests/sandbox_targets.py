"""Parsers that misbehave on purpose, for the sandbox tests (the worker imports them by name)."""

from __future__ import annotations

import os
import signal
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
