"""What a parser hands to the chunker: text in order, with where each piece came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# "table": rows of one table, each row carrying its header; the chunker keeps such a section a
# passage of its own instead of running it into the text around it.
SectionKind = Literal["text", "table"]


@dataclass(frozen=True)
class Section:
    """A run of text from one place in the source: a page, the part under a heading, or table rows."""

    text: str
    page: int | None = None
    heading: str | None = None
    kind: SectionKind = "text"


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    kind: str
    sections: list[Section]
    flags: list[str] = field(default_factory=list)

    @property
    def text_length(self) -> int:
        return sum(len(s.text) for s in self.sections)
