"""Length-prefixed messages over pipes, between the app, its parse worker and the worker's children.

A message is raw bytes or JSON, never pickle: a reply is written by a process that has just parsed
hostile bytes, so whoever reads it treats it as data to check. The reader refuses a message longer
than it allows before reading it, so a reply cannot make the app hold more than that.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

_HEADER = struct.Struct("!Q")
_READ_SIZE = 1 << 20


class ChannelClosed(Exception):
    """The other end closed the pipe before a whole message arrived."""


class ChannelTimeout(Exception):
    """No whole message arrived before the deadline."""


class MalformedMessage(Exception):
    """A message that is longer than allowed or is not JSON; the channel is out of step after it."""


def reply_limit(memory_mb: int) -> int:
    """The longest reply to a parse bounded to `memory_mb`: the child builds it within that bound."""
    return (memory_mb + 1) * 1024 * 1024


def send_bytes(fd: int, payload: bytes) -> None:
    _write_all(fd, _HEADER.pack(len(payload)))
    _write_all(fd, payload)


def receive_bytes(fd: int, deadline: float | None = None, *, max_bytes: int) -> bytes:
    """The next message on `fd`; `deadline` is a `time.monotonic()` value."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    if size > max_bytes:
        raise MalformedMessage(f"a message of {size:,} bytes, over the {max_bytes:,} allowed")
    return _read_exactly(fd, size, deadline)


def send_json(fd: int, message: object) -> None:
    send_bytes(fd, encode_json(message))


def receive_json(fd: int, deadline: float | None = None, *, max_bytes: int) -> object:
    return decode_json(receive_bytes(fd, deadline, max_bytes=max_bytes))


def encode_json(message: object) -> bytes:
    # ASCII escapes: any str encodes, lone surrogates included.
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode("ascii")


def decode_json(payload: bytes) -> object:
    try:
        return json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedMessage(f"not a JSON message ({type(exc).__name__})") from exc


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


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
