"""What a parser hands to the chunker: text in order, with where each piece came from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A run of text from one place in the source: a page, or the part under a heading."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    kind: str
    sections: list[Section]
    flags: list[str] = field(default_factory=list)

    @property
    def text_length(self) -> int:
        return sum(len(s.text) for s in self.sections)
