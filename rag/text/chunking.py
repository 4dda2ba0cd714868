"""Token windows over a document's text that end on sentence boundaries where they can.

Sections are joined in order; a chunk may span sections (its location says so), except that a
table section (rows carrying their header) is a passage of its own: run into the text around it,
a row would share its vector with unrelated sentences. Each chunk has at most `max_tokens` tokens
(cl100k_base) and starts `overlap` tokens or fewer before the previous one ended, at a sentence
start when one is near enough.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from rag.parsing.document import Section
from rag.text.sentences import sentence_starts
from rag.text.tokens import count_tokens, encoding

SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Chunk:
    position: int
    text: str
    token_count: int
    page_start: int | None
    page_end: int | None
    heading: str | None
    char_start: int  # offsets into joined_text(sections)
    char_end: int


def joined_text(sections: list[Section]) -> str:
    return SEPARATOR.join(s.text for s in sections)


def chunk_sections(sections: list[Section], *, max_tokens: int, overlap: int) -> list[Chunk]:
    if not 0 <= overlap < max_tokens:
        raise ValueError("expected 0 <= overlap < max_tokens")
    chunks: list[Chunk] = []
    offset = 0
    for run in _runs(sections):
        for chunk in _chunk_run(run, max_tokens, overlap):
            chunks.append(
                dataclasses.replace(
                    chunk,
                    position=len(chunks),
                    char_start=chunk.char_start + offset,
                    char_end=chunk.char_end + offset,
                )
            )
        offset += len(joined_text(run)) + len(SEPARATOR)
    return chunks


def _runs(sections: list[Section]) -> Iterator[list[Section]]:
    """Consecutive text sections together; each table section alone."""
    for is_table, group in itertools.groupby(sections, key=lambda s: s.kind == "table"):
        if is_table:
            yield from ([s] for s in group)
        else:
            yield list(group)


def _chunk_run(sections: list[Section], max_tokens: int, overlap: int) -> list[Chunk]:
    """Chunks of the joined text of `sections`, offsets into that text."""
    text = joined_text(sections)
    tokens = encoding().encode(text, disallowed_special=())
    if not tokens:
        return []
    _, offsets = encoding().decode_with_offsets(tokens)
    spans = _section_spans(sections)
    # The token holding a sentence's first character (often " Word") starts the sentence.
    starts = {max(bisect.bisect_right(offsets, c) - 1, 0) for c in _boundary_chars(text, spans)}
    boundaries = sorted(starts | {len(tokens)})
    chunks: list[Chunk] = []
    start = 0
    while start < len(tokens):
        end = _window_end(start, len(tokens), boundaries, max_tokens)
        chunk, end = _fit(text, offsets, start, end, max_tokens, sections, spans, len(chunks))
        if chunk is not None:
            chunks.append(chunk)
        if end >= len(tokens):
            break
        start = _next_start(start, end, boundaries, overlap)
    return chunks


def _window_end(start: int, n: int, boundaries: list[int], max_tokens: int) -> int:
    """The last sentence start within reach, unless that leaves the chunk less than half full."""
    hard_end = min(start + max_tokens, n)
    if hard_end == n:
        return n
    i = bisect.bisect_right(boundaries, hard_end) - 1
    return boundaries[i] if i >= 0 and boundaries[i] - start >= max_tokens // 2 else hard_end


def _next_start(start: int, end: int, boundaries: list[int], overlap: int) -> int:
    """Back up at most `overlap` tokens, to a sentence start if there is one in that stretch."""
    j = bisect.bisect_left(boundaries, max(end - overlap, start + 1))
    candidate = boundaries[j] if j < len(boundaries) and boundaries[j] < end else end - overlap
    return candidate if candidate > start else end


def _fit(
    text: str,
    offsets: list[int],
    start: int,
    end: int,
    max_tokens: int,
    sections: list[Section],
    spans: list[tuple[int, int]],
    position: int,
) -> tuple[Chunk | None, int]:
    """The chunk for tokens [start, end), shrunk until its re-encoded text fits; and its real end."""
    # Re-encoding a slice can differ by a token at the edges.
    while True:
        a = offsets[start]
        b = offsets[end] if end < len(offsets) else len(text)
        raw = text[a:b]
        body = raw.strip()
        n = count_tokens(body)
        if n <= max_tokens or end - start <= 1:
            break
        end -= 1
    if not body:
        return None, end
    a += len(raw) - len(raw.lstrip())
    b = a + len(body)
    section_starts = [s for s, _ in spans]
    first = max(bisect.bisect_right(section_starts, a) - 1, 0)
    last = max(bisect.bisect_right(section_starts, b - 1) - 1, 0)
    pages = [p for s in sections[first : last + 1] if (p := s.page) is not None]
    chunk = Chunk(
        position=position,
        text=body,
        token_count=n,
        page_start=min(pages) if pages else None,
        page_end=max(pages) if pages else None,
        heading=sections[first].heading,
        char_start=a,
        char_end=b,
    )
    return chunk, end


def _section_spans(sections: list[Section]) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for s in sections:
        spans.append((pos, pos + len(s.text)))
        pos += len(s.text) + len(SEPARATOR)
    return spans


def _boundary_chars(text: str, spans: list[tuple[int, int]]) -> set[int]:
    return set(sentence_starts(text)) | {start for start, _ in spans}
