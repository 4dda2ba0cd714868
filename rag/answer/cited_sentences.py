"""Which sentences of a passage an answer cites: what an agent checks the answer against.

Each answer sentence citing [n] is matched to the sentence of passage n that shares the most of its
words (cosine over sets of content words: no model, no network). A citation that opens a sentence
(`... a refund. [1] Next ...`, as split_sentences leaves it) belongs to the sentence before.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

from rag.answer.citations import cited_numbers
from rag.text import escape_markdown, sentence_starts, split_sentences
from rag.text.literal_markdown import WORD_JOINER

# At least this share of words in common (cosine over word sets), and two words (one for a
# one-word sentence): below that a sentence is not taken as quoted or paraphrased.
MIN_SIMILARITY = 0.3
MIN_SHARED_WORDS = 2
HIGHLIGHT = "orange-background"

_WORD = re.compile(r"\w+")
_CITATION_RUN = re.compile(r"^(?:\s*(?:\[[^\]\n]{1,40}\]|【[^】\n]{1,40}】))+")
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by can do does for from has have how if in is it its of on or our so that the "
        "their there this to was we were what when which who will with you your",
    )
)


@dataclass(frozen=True)
class Span:
    """A highlighted part of a passage, by character offsets into its text."""

    start: int
    end: int


def citing_sentences(answer: str) -> dict[int, list[str]]:
    """The answer's sentences that cite each passage number, citations taken out of them."""
    if not answer.strip():  # nothing written (a failed answer): split_sentences wants text
        return {}
    found: dict[int, list[str]] = defaultdict(list)
    sentences: list[tuple[str, set[int]]] = []
    for sentence in split_sentences(answer):
        lead = _CITATION_RUN.match(sentence)
        if lead and sentences:  # "[1]" opening a sentence closes the one before
            text, numbers = sentences[-1]
            sentences[-1] = (text, numbers | cited_numbers(lead.group(0)))
            sentence = sentence[lead.end() :].strip()
        if sentence.strip():
            sentences.append((sentence, cited_numbers(sentence)))
    for sentence, numbers in sentences:
        for n in sorted(numbers):
            found[n].append(sentence)
    return dict(found)


def cited_spans(passage: str, citing: list[str]) -> list[Span]:
    """The passage's sentences that best match each citing sentence, in passage order."""
    spans = _sentence_spans(passage)
    words = [_words(passage[s.start : s.end]) for s in spans]
    chosen: set[int] = set()
    for sentence in citing:
        wanted = _words(sentence)
        scored = [(_similarity(wanted, have), i) for i, have in enumerate(words) if _close(wanted, have)]
        if scored:
            chosen.add(max(scored, key=lambda pair: (pair[0], -pair[1]))[1])
    return [spans[i] for i in sorted(chosen)]


def highlighted_markdown(text: str, spans: list[Span]) -> str:
    """`text` as literal Markdown (escape_markdown) with `spans` wrapped in Streamlit's highlight.

    The text is escaped first, piece by piece; only then are the highlighted pieces wrapped, one
    line at a time (a directive does not cross a line break). A word joiner between pieces breaks
    any autolink or shortcode that would otherwise run across the seam.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    marked = [False] * len(text)
    for span in spans:
        marked[span.start : span.end] = [True] * (span.end - span.start)
    lines, offset = [], 0
    for line in text.split("\n"):
        lines.append(_line(line, marked[offset : offset + len(line)]))
        offset += len(line) + 1
    return "\\\n".join(lines)


def _line(line: str, marked: list[bool]) -> str:
    if not any(marked):
        return escape_markdown(line) or WORD_JOINER
    pieces, start = [], 0
    for i in range(1, len(line) + 1):
        if i == len(line) or marked[i] != marked[start]:
            piece = escape_markdown(line[start:i])
            pieces.append(f":{HIGHLIGHT}[{piece}]" if marked[start] else piece)
            start = i
    return WORD_JOINER.join(pieces)


def _sentence_spans(text: str) -> list[Span]:
    starts = sentence_starts(text)
    spans = []
    for start, end in zip(starts, [*starts[1:], len(text)], strict=False):
        piece = text[start:end]
        left = start + len(piece) - len(piece.lstrip())
        right = start + len(piece.rstrip())
        if right > left:
            spans.append(Span(left, right))
    return spans


def _words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _close(wanted: set[str], have: set[str]) -> bool:
    shared = len(wanted & have)
    return shared >= min(MIN_SHARED_WORDS, len(wanted)) > 0 and _similarity(wanted, have) >= MIN_SIMILARITY


def _similarity(a: set[str], b: set[str]) -> float:
    return len(a & b) / math.sqrt(len(a) * len(b)) if a and b else 0.0
