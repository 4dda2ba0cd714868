"""Parsing in a child process: a hang, a balloon or a crash becomes a rejection, and the next file works."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from rag.errors import RejectedFile
from rag.parsing.sandbox import MalformedReply, ParseLimits, parse_isolated, stop_workers
from tests import sandbox_targets

LIMITS = ParseLimits(timeout_s=0.5, memory_mb=100)


def test_a_normal_file_is_parsed_in_the_child() -> None:
    doc = parse_isolated("notes.txt", b"Title\n\nSome text.", limits=LIMITS)
    assert (doc.title, doc.sections[0].text) == ("Title", "Title\n\nSome text.")


def test_a_parser_rejection_keeps_its_message() -> None:
    with pytest.raises(RejectedFile, match=r"^The file is empty\.$"):
        parse_isolated("empty.txt", b"", limits=LIMITS)


def test_a_parse_that_hangs_is_stopped_at_the_deadline() -> None:
    with pytest.raises(RejectedFile, match=r"took longer than 0.5 s to read"):
        parse_isolated("slow.txt", b"3600", limits=LIMITS, parser=sandbox_targets.sleeps)
    # The same parser within the bound: the bound is what stopped it.
    assert parse_isolated("quick.txt", b"0", limits=LIMITS, parser=sandbox_targets.sleeps).sections


def test_a_parse_that_balloons_is_stopped_at_the_memory_bound() -> None:
    with pytest.raises(RejectedFile, match=r"needed more than 100 MB of memory"):
        parse_isolated("big.txt", b"400", limits=LIMITS, parser=sandbox_targets.allocates)
    assert parse_isolated("small.txt", b"20", limits=LIMITS, parser=sandbox_targets.allocates).sections


def test_a_memory_error_wrapped_by_a_parser_is_reported_as_memory() -> None:
    with pytest.raises(RejectedFile, match=r"needed more than 100 MB of memory"):
        parse_isolated("big.pdf", b"400", limits=LIMITS, parser=sandbox_targets.wraps_a_memory_error)


@pytest.mark.parametrize(
    ("parser", "detail"),
    [(sandbox_targets.segfaults, "SIGSEGV"), (sandbox_targets.has_a_bug, "ZeroDivisionError")],
)
def test_a_crashing_parser_becomes_a_rejection(parser: sandbox_targets.ParserFn, detail: str) -> None:
    with pytest.raises(RejectedFile, match=rf"parser stopped unexpectedly \({detail}\)"):
        parse_isolated("bad.txt", b"x", limits=LIMITS, parser=parser)


def test_the_next_file_is_parsed_after_every_kind_of_failure() -> None:
    for parser, data in [
        (sandbox_targets.sleeps, b"3600"),
        (sandbox_targets.allocates, b"400"),
        (sandbox_targets.segfaults, b""),
    ]:
        with pytest.raises(RejectedFile):
            parse_isolated("bad.txt", data, limits=LIMITS, parser=parser)
        assert parse_isolated("good.txt", b"fine", limits=LIMITS).sections[0].text == "fine"


def test_a_worker_killed_mid_parse_is_replaced() -> None:
    with pytest.raises(RejectedFile, match="the parsing process stopped unexpectedly"):
        parse_isolated("bad.txt", b"x", limits=LIMITS, parser=sandbox_targets.kills_its_worker)
    assert parse_isolated("good.txt", b"fine", limits=LIMITS).sections[0].text == "fine"


def test_the_worker_sees_no_secrets_or_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "DATABASE_URL", "ADMIN_PASSWORD", "SOME_FUTURE_SECRET"):
        monkeypatch.setenv(name, "secret")
    stop_workers()  # the next parse starts a worker from this environment
    try:
        doc = parse_isolated("env.txt", b"", limits=LIMITS, parser=sandbox_targets.reports_its_environment)
    finally:
        stop_workers()
    seen = set(doc.sections[0].text.splitlines())
    assert {"PATH", "PYTHONPATH"} <= seen
    assert not seen & {"OPENAI_API_KEY", "DATABASE_URL", "ADMIN_PASSWORD", "SOME_FUTURE_SECRET"}


def test_a_pickled_reply_is_refused_and_never_run(tmp_path: Path) -> None:
    mark = tmp_path / "unpickled"
    hostile = sandbox_targets.frame(pickle.dumps(sandbox_targets.LeavesAMark(str(mark))))
    with pytest.raises(MalformedReply, match=r"sent a malformed reply \(not a JSON message"):
        parse_isolated("evil.txt", hostile, limits=LIMITS, parser=sandbox_targets.writes_its_own_reply)
    assert not mark.exists()
    assert parse_isolated("good.txt", b"fine", limits=LIMITS).sections[0].text == "fine"


_SECTION = {"text": "t", "page": None, "heading": None, "kind": "text"}
_DOCUMENT = {"title": "t", "kind": "text", "sections": [_SECTION], "flags": []}


def _ok(**document: object) -> dict[str, object]:
    return {"outcome": "ok", "document": {**_DOCUMENT, **document}, "growth_kb": 0}


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ({"outcome": "ok", "document": _DOCUMENT}, "integer growth_kb"),
        (_ok(sections=[{**_SECTION, "text": 1}]), "text to be a string"),
        (_ok(sections=[{**_SECTION, "kind": "script"}]), "kind to be one of"),
        (_ok(sections=[{**_SECTION, "page": True}]), "page to be a positive integer"),
        (_ok(kind="x" * 21), "kind to be a string of 1 to 20"),
        (_ok(flags=[1]), "flags to be a list of strings"),
        ({**_ok(), "document": {**_DOCUMENT, "extra": 1}}, "exactly the fields"),
        ({"outcome": "rejected", "message": "x" * 5000, "growth_kb": 0}, "unknown outcome"),
        ({"outcome": "owned", "growth_kb": 0}, "unknown outcome"),
        ("[" * 100_000, "not a JSON message"),
    ],
)
def test_a_malformed_reply_is_a_clear_rejection(reply: object, problem: str) -> None:
    payload = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
    with pytest.raises(
        MalformedReply, match=rf"^This file could not be read: .*malformed reply \(.*{problem}"
    ):
        parse_isolated(
            "evil.txt",
            sandbox_targets.frame(payload),
            limits=LIMITS,
            parser=sandbox_targets.writes_its_own_reply,
        )
    assert parse_isolated("good.txt", b"fine", limits=LIMITS).sections[0].text == "fine"


def test_a_reply_longer_than_the_memory_bound_is_not_read() -> None:
    claims = (1 << 62).to_bytes(8, "big")  # a header announcing more than any child could build
    with pytest.raises(RejectedFile, match=r"parser stopped unexpectedly \(its reply was too long\)"):
        parse_isolated("evil.txt", claims, limits=LIMITS, parser=sandbox_targets.writes_its_own_reply)
