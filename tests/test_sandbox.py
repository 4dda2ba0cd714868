"""Parsing in a child process: a hang, a balloon or a crash becomes a rejection, and the next file works."""

from __future__ import annotations

import pytest

from rag.errors import RejectedFile
from rag.parsing.sandbox import ParseLimits, parse_isolated
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
