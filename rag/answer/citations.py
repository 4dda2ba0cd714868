"""Citations in an answer, checked against the passages that were actually retrieved.

Models are told to write `[n]`, and write many other forms too: `[ 7 ]`, `[6-9]`, `[2–4]`,
`[7; 8]`, `[1, 2 and 3]`, `[^7]`, `[Source 7]`, `[Sources 1, 2]`, `[source: 3]`, `[Passage #3]`,
`(Source 5)`, `【1】`, `【4:0†file】`. Every number of every form (each number of a range) is
checked; what survives is written `[n][m]`, the form the chat page and the widget link.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Logged in an answer's `error` column (with no error code) when citations were removed.
REMOVED_NOTE = "removed citations of sources that were not retrieved: "
_S = r"[ \t]*+"  # possessive: a long run of spaces cannot make the pattern backtrack
_LABEL = rf"(?:(?:sources?|passages?|refs?|references?|citations?|docs?|documents?)\.?{_S}:?{_S})?#?{_S}"
_ITEM = rf"{_LABEL}\d{{1,3}}(?:{_S}[-–—]{_S}{_LABEL}\d{{1,3}})?"
_LIST = rf"{_ITEM}(?:{_S}(?:[,;&]|,?{_S}and\b){_S}{_ITEM})*+"
_TAIL = r"(?:(?::\d+)?†[^\]】\n]*+)?"  # 【4:0†manual.pdf】: a file search's pointer into the source
_ONE = (
    rf"\[{_S}\^?{_S}{_LIST}{_TAIL}{_S}\]"
    rf"|【{_S}{_LIST}{_TAIL}{_S}】"
    rf"|\({_S}(?:sources?|passages?){_S}:?{_S}{_LIST}{_S}\)"
)
_CITATION = re.compile(_ONE, re.IGNORECASE)
# Citations side by side, with the spaces around them (so a removed one takes its space along).
_RUN = re.compile(rf"(?P<run>(?:{_ONE})(?:{_S}(?:{_ONE}))*+)(?P<after>{_S})", re.IGNORECASE)
_NUMBER = re.compile(rf"(\d{{1,3}})(?:{_S}[-–—]{_S}{_LABEL}(\d{{1,3}}))?", re.IGNORECASE)
_POINTER = re.compile(r"(?<=\d):\d+|†.*", re.DOTALL)  # the tail of 【4:0†file】 cites nothing
_CLOSES_A_CLAUSE = set(".,;:!?)\n")


def cited_numbers(text: str) -> set[int]:
    """Every number cited in `text`, in any form (each number of a range)."""
    return {n for match in _CITATION.finditer(text) for n in _numbers(match.group(0))}


def drop_unknown_citations(text: str, known: set[int]) -> tuple[str, set[int]]:
    """Remove citations to passages that were not retrieved; return the text and what was removed.

    Those kept are written `[n]` whatever form they came in.
    """
    removed: set[int] = set()
    parts: list[str] = []
    end = 0
    for match in _RUN.finditer(text):
        numbers = [n for one in _CITATION.finditer(match["run"]) for n in _numbers(one.group(0))]
        removed.update(n for n in numbers if n not in known)
        kept = "".join(f"[{n}]" for n in dict.fromkeys(numbers) if n in known)
        before = text[end : match.start()]
        if known.issuperset(numbers) and text[match.end() : match.end() + 1] == ":":
            kept = match["run"]  # `[^1]: ...` stays a footnote; `[1]: ...` would define a link
        if kept:
            parts += [before, kept, match["after"]]
        else:
            parts += _gap(text, before, match)
        end = match.end()
    parts.append(text[end:])
    return "".join(parts), removed


def _numbers(citation: str) -> Iterator[int]:
    for match in _NUMBER.finditer(_POINTER.sub("", citation)):
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        yield from range(min(first, last), max(first, last) + 1)


def _gap(text: str, before: str, match: re.Match[str]) -> list[str]:
    """What a citation removed whole leaves: no space before punctuation or at a line's start."""
    kept_before = before.rstrip(" \t")
    spaces_from = match.start() - (len(before) - len(kept_before))
    following = text[match.end() : match.end() + 1]
    at_line_start = spaces_from == 0 or text[spaces_from - 1] == "\n"
    if not following or following in _CLOSES_A_CLAUSE or at_line_start:
        return [kept_before]
    return [kept_before, " " if spaces_from < match.start() or match["after"] else ""]


def removal_note(removed: set[int]) -> str | None:
    """What the answer log records about removed citations; None when none were removed."""
    return f"{REMOVED_NOTE}{sorted(removed)}" if removed else None


def removed_in_note(note: str | None) -> set[int]:
    """The citation numbers a logged `removal_note` names (empty for anything else)."""
    if not note or not note.startswith(REMOVED_NOTE):
        return set()
    return {int(n) for n in re.findall(r"\d+", note[len(REMOVED_NOTE) :])}
