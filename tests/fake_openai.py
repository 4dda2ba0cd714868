"""An OpenAI-compatible HTTP server for tests: derived embeddings, queued chat replies, faults.

Stdlib only and bound to 127.0.0.1. Point the official SDK at it:

    with FakeOpenAI() as server:
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url)

Every request's JSON body is kept in `server.requests` (its path in `server.paths`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY_BYTES = 8 * 1024 * 1024
OPENAI_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_Fault = tuple[int, str | None, str | None]  # status, code, message
QUOTA_MESSAGE = "You exceeded your current quota, please check your plan and billing details."
_ERRORS: dict[int, tuple[str, str, str | None]] = {  # status: (message, type, code)
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided: {key}.", "invalid_request_error", "invalid_api_key"),
    403: ("You do not have access to this model.", "invalid_request_error", None),
    404: ("The model `{model}` does not exist or you do not have access to it.", "invalid_request_error",
          "model_not_found"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
}  # fmt: skip


class FakeOpenAI:
    def __init__(
        self,
        *,
        dims: int = 64,
        model_dims: dict[str, int] | None = None,
        first_token_delay_s: float = 0.0,
        token_delay_s: float = 0.0,
        request_delay_s: float = 0.0,
    ) -> None:
        self.dims = dims  # for models not in model_dims
        # A streamed reply waits this long before its first content chunk, then this long before
        # each further one, like a real model (e.g. 0.3 s, then 0.02 s per token).
        self.first_token_delay_s = first_token_delay_s
        self.token_delay_s = token_delay_s
        self.request_delay_s = request_delay_s  # every request waits this long, like a real API
        self.model_dims = dict(OPENAI_DIMENSIONS if model_dims is None else model_dims)
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.reverse_embeddings = False  # proves clients order vectors by `index`
        self.stream_usage = True  # False mimics compatible servers that ignore stream_options
        self.default_reply: str | None = None  # the reply when none is queued (else an echo)
        self._replies: deque[str] = deque()
        self._faults: deque[_Fault] = deque()
        self._delays: deque[float] = deque()
        self._faults_at: dict[int, _Fault] = {}  # request number (1-based, since start): fault
        self._cut_after: int | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        # A short poll interval keeps shutdown (once per test) from costing half a second.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()  # wakes handlers sleeping in delay_next
        self._httpd.shutdown()
        self._httpd.server_close()

    def queue_reply(self, text: str) -> None:
        """The next chat completion answers with `text` (replies are used in order)."""
        with self._lock:
            self._replies.append(text)

    def fail_next(
        self, status: int, *, times: int = 1, code: str | None = None, message: str | None = None
    ) -> None:
        """The next `times` requests fail with `status` and an OpenAI-style error body."""
        with self._lock:
            self._faults.extend([(status, code, message)] * times)

    def fail_request(
        self, number: int, status: int, *, times: int = 1, code: str | None = None, message: str | None = None
    ) -> None:
        """Requests number `number` to `number + times - 1` (counted from the server's start) fail."""
        with self._lock:
            self._faults_at.update({n: (status, code, message) for n in range(number, number + times)})

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """The next `times` requests wait `seconds` before answering (to provoke client timeouts)."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def cut_stream_after(self, n_chunks: int) -> None:
        """The next streamed reply closes the connection after `n_chunks` content chunks, without [DONE]."""
        with self._lock:
            self._cut_after = n_chunks

    def _take(self, body: dict[str, Any], path: str) -> tuple[float, _Fault | None]:
        with self._lock:
            self.requests.append(body)
            self.paths.append(path)
            delay = self._delays.popleft() if self._delays else self.request_delay_s
            fault = self._faults_at.pop(len(self.requests), None)
            return delay, fault or (self._faults.popleft() if self._faults else None)

    def _next_reply(self, body: dict[str, Any]) -> tuple[str, int | None]:
        with self._lock:
            reply = self._replies.popleft() if self._replies else self.default_reply or _echo(body)
            if not body.get("stream"):
                return reply, None
            cut, self._cut_after = self._cut_after, None
            return reply, cut


def serve(**kwargs: Any) -> Iterator[FakeOpenAI]:
    """A generator for `pytest.fixture(serve, name=...)`."""
    with FakeOpenAI(**kwargs) as server:
        yield server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing an idle keep-alive connection is normal (e.g. when its process exits).
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as the SDK expects
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body waits for
    # the client's delayed ACK, adding about 40 ms to every request.
    disable_nagle_algorithm = True
    timeout = 30  # an idle or stuck client cannot hold a thread for long
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output readable

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return self._error(413, "Request too large.", "invalid_request_error", None)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._error(400, "The body is not valid JSON.", "invalid_request_error", None)
        delay, fault = fake._take(body, self.path)
        if delay:
            fake._stopping.wait(delay)
        try:
            if fault is not None:
                self._fault(body, *fault)
            elif self.path == "/v1/embeddings":
                self._embeddings(body)
            elif self.path == "/v1/chat/completions":
                self._chat(body)
            else:
                self._error(404, f"Unknown path {self.path}.", "invalid_request_error", None)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout): nothing left to answer

    def _fault(self, body: dict[str, Any], status: int, code: str | None, message: str | None) -> None:
        default, kind, default_code = _ERRORS.get(status, ("Fake failure.", "server_error", None))
        if code == "insufficient_quota":
            default, kind = QUOTA_MESSAGE, "insufficient_quota"
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        text = message or default.format(key=key, model=body.get("model"))
        self._error(status, text, kind, code or default_code)

    def _error(self, status: int, message: str, kind: str, code: str | None) -> None:
        error = {"message": message, "type": kind, "param": None, "code": code}
        # The SDK honours retry-after-ms, so retries in tests wait 10 ms instead of seconds.
        self._json(status, {"error": error}, {"retry-after-ms": "10", "x-request-id": "req_fake"})

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _embeddings(self, body: dict[str, Any]) -> None:
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        if not texts or not all(isinstance(t, str) and t for t in texts):
            return self._error(400, "'$.input' is invalid.", "invalid_request_error", None)
        model = str(body.get("model", ""))
        dims = int(body.get("dimensions") or self.server.fake.model_dims.get(model, self.server.fake.dims))
        base64_out = body.get("encoding_format") == "base64"
        data = [
            {"object": "embedding", "index": i, "embedding": _encoded(_vector(t, dims), base64_out)}
            for i, t in enumerate(texts)
        ]
        if self.server.fake.reverse_embeddings:
            data.reverse()
        tokens = sum(len(_words(t)) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._json(200, {"object": "list", "data": data, "model": model, "usage": usage})

    def _chat(self, body: dict[str, Any]) -> None:
        reply, cut = self.server.fake._next_reply(body)
        prompt = sum(len(_words(_content(m))) for m in body.get("messages") or [])
        usage = {"prompt_tokens": prompt, "completion_tokens": len(_words(reply))}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        head = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body.get("model", "fake")}
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            return self._json(200, {**head, "object": "chat.completion", "choices": [choice], "usage": usage})
        options = body.get("stream_options") or {}
        with_usage = self.server.fake.stream_usage and bool(options.get("include_usage"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = {**head, "object": "chat.completion.chunk", **({"usage": None} if with_usage else {})}
        self._event({**chunk, "choices": [_delta({"role": "assistant", "content": ""}, None)]})
        for n, piece in enumerate(re.findall(r"\s*\S+|\s+$", reply)):
            if n == cut:
                self.close_connection = True  # no terminating chunk: the client sees a cut stream
                return
            delay = self.server.fake.first_token_delay_s if n == 0 else self.server.fake.token_delay_s
            if delay:
                self.wfile.flush()
                self.server.fake._stopping.wait(delay)
            self._event({**chunk, "choices": [_delta({"content": piece}, None)]})
        self._event({**chunk, "choices": [_delta({}, "stop")]})
        if with_usage:
            self._event({**chunk, "choices": [], "usage": usage})
        self._send_chunk(b"data: [DONE]\n\n")
        self._send_chunk(b"")

    def _event(self, payload: dict[str, Any]) -> None:
        self._send_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _send_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")


def _delta(delta: dict[str, str], finish_reason: str | None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _vector(text: str, dims: int) -> list[float]:
    """A hashed bag of words (not normalised, like no real model): shared words, similar vectors."""
    vector = [0.0] * dims
    for word in _words(text) or [text]:
        vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big") % dims] += 1.0
    return vector


def _encoded(vector: list[float], as_base64: bool) -> list[float] | str:
    if not as_base64:
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _echo(body: dict[str, Any]) -> str:
    """The default reply: the first words of the first source (or of the question), citing [1]."""
    users = [_content(m) for m in body.get("messages") or [] if m.get("role") == "user"]
    last = users[-1] if users else ""
    source = re.search(r"<source[^>]*>\s*(.*?)\s*</source>", last, re.DOTALL)
    return " ".join((source.group(1) if source else last).split()[:12]) + " [1]."
