"""Length-prefixed pickle messages over pipes, between the app and its parse worker.

Both ends are this project's own code: the worker pickles the documents its parsers built, never
bytes taken from an upload, so unpickling a reply is safe.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import time

_HEADER = struct.Struct("!Q")
_READ_SIZE = 1 << 20


class ChannelClosed(Exception):
    """The other end closed the pipe before a whole message arrived."""


class ChannelTimeout(Exception):
    """No whole message arrived before the deadline."""


def send(fd: int, message: object) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _HEADER.pack(len(payload)))
    _write_all(fd, payload)


def receive(fd: int, deadline: float | None = None) -> object:
    """The next message on `fd`; `deadline` is a `time.monotonic()` value."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exactly(fd, size, deadline))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise ChannelTimeout
        chunk = os.read(fd, min(size - len(buffer), _READ_SIZE))
        if not chunk:
            raise ChannelClosed
        buffer += chunk
    return bytes(buffer)
