"""Server-sent events from the pipeline's (synchronous) answer stream.

The stream is read in worker threads, one step at a time, so the event loop never blocks on the
database or a model; a client that goes away closes it, and the answer is logged as interrupted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Generator

from starlette.concurrency import run_in_threadpool

_END = object()


def sse(data: object, *, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def relay(
    deltas: Generator[str], on_delta: Callable[[str], str], closing: Callable[[], list[str]]
) -> AsyncIterator[str]:
    """Each delta as `on_delta` frames it, then the frames `closing` makes once the stream ended."""
    try:
        while True:
            delta = await run_in_threadpool(next, deltas, _END)
            if delta is _END:
                break
            assert isinstance(delta, str)
            yield on_delta(delta)
    finally:
        await run_in_threadpool(deltas.close)  # a no-op when it ended; else: logged as interrupted
    for frame in closing():
        yield frame
