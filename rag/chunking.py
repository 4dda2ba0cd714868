"""Token windows over a document's text that end on sentence boundaries where they can.

Sections are joined in order; a chunk may span sections (its location says so). Each chunk has
at most `max_tokens` tokens (cl100k_base) and starts `overlap` tokens or fewer before the previous
one ended, at a sentence start when one is near enough.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from rag.parsing.document import Section
from rag.sentences import sentence_starts
from rag.tokens import count_tokens, encoding

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
    text = joined_text(sections)
    tokens = encoding().encode(text, disallowed_special=())
    if not tokens:
        return []
    _, offsets = encoding().decode_with_offsets(tokens)
    spans = _section_spans(sections)
    # The token holding a sentence's first character (often " Word") starts the sentence.
    starts = {max(bisect.bisect_right(offsets, c) - 1, 0) for c in _boundary_chars(text, spans)}
    boundaries = sorted(starts | {len(tokens)})
    windows = _windows(len(tokens), boundaries, max_tokens, overlap)
    chunks: list[Chunk] = []
    for start, end in windows:
        chunk = _make_chunk(text, offsets, start, end, max_tokens, sections, spans, len(chunks))
        if chunk is not None:
            chunks.append(chunk)
    return chunks


def _windows(n: int, boundaries: list[int], max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    start = 0
    while start < n:
        hard_end = min(start + max_tokens, n)
        i = bisect.bisect_right(boundaries, hard_end) - 1
        end = boundaries[i] if i >= 0 and boundaries[i] - start >= max_tokens // 2 else hard_end
        if hard_end == n:
            end = n
        windows.append((start, end))
        if end >= n:
            break
        j = bisect.bisect_left(boundaries, end - overlap)
        next_start = boundaries[j] if j < len(boundaries) and boundaries[j] < end else end - overlap
        start = next_start if next_start > start else end
    return windows


def _make_chunk(
    text: str,
    offsets: list[int],
    start: int,
    end: int,
    max_tokens: int,
    sections: list[Section],
    spans: list[tuple[int, int]],
    position: int,
) -> Chunk | None:
    # Re-encoding a slice can differ by a token at the edges: shrink until it fits.
    while True:
        a = offsets[start]
        b = offsets[end] if end < len(offsets) else len(text)
        raw = text[a:b]
        body = raw.strip()
        if not body:
            return None
        n = count_tokens(body)
        if n <= max_tokens or end - start <= 1:
            break
        end -= 1
    a += len(raw) - len(raw.lstrip())
    b = a + len(body)
    first = max(bisect.bisect_right([s for s, _ in spans], a) - 1, 0)
    last = max(bisect.bisect_right([s for s, _ in spans], b - 1) - 1, 0)
    pages = [p for s in sections[first : last + 1] if (p := s.page) is not None]
    return Chunk(
        position=position,
        text=body,
        token_count=n,
        page_start=min(pages) if pages else None,
        page_end=max(pages) if pages else None,
        heading=sections[first].heading,
        char_start=a,
        char_end=b,
    )


def _section_spans(sections: list[Section]) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for s in sections:
        spans.append((pos, pos + len(s.text)))
        pos += len(s.text) + len(SEPARATOR)
    return spans


def _boundary_chars(text: str, spans: list[tuple[int, int]]) -> set[int]:
    return set(sentence_starts(text)) | {start for start, _ in spans}
