"""What a parser hands to the chunker: text in order, with where each piece came from.

`to_json` and `from_json` carry a document from the parse worker to the app as plain data; the
app checks every field, since the process that wrote it has just read hostile bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

# "table": rows of one table, each row carrying its header; the chunker keeps such a section a
# passage of its own instead of running it into the text around it.
SectionKind = Literal["text", "table"]

MAX_KIND_CHARS = 20  # documents.kind is a VARCHAR(20)
_SECTION_KEYS = {"text", "page", "heading", "kind"}
_DOCUMENT_KEYS = {"title", "kind", "sections", "flags"}


@dataclass(frozen=True)
class Section:
    """A run of text from one place in the source: a page, the part under a heading, or table rows."""

    text: str
    page: int | None = None
    heading: str | None = None
    kind: SectionKind = "text"

    def to_json(self) -> dict[str, object]:
        return {"text": self.text, "page": self.page, "heading": self.heading, "kind": self.kind}

    @classmethod
    def from_json(cls, data: object) -> Section:
        """The section `data` describes; `ValueError` if it is not exactly one."""
        fields = _object(data, _SECTION_KEYS, "a section")
        text, page, heading, kind = fields["text"], fields["page"], fields["heading"], fields["kind"]
        if not isinstance(text, str):
            raise ValueError("expected a section's text to be a string")
        if page is not None and (type(page) is not int or page < 1):
            raise ValueError("expected a section's page to be a positive integer or null")
        if heading is not None and not isinstance(heading, str):
            raise ValueError("expected a section's heading to be a string or null")
        if kind == "text" or kind == "table":
            return cls(text=text, page=page, heading=heading, kind=kind)
        raise ValueError(f"expected a section's kind to be one of {get_args(SectionKind)}")


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    kind: str
    sections: list[Section]
    flags: list[str] = field(default_factory=list)

    @property
    def text_length(self) -> int:
        return sum(len(s.text) for s in self.sections)

    def to_json(self) -> dict[str, object]:
        return {
            "title": self.title,
            "kind": self.kind,
            "sections": [s.to_json() for s in self.sections],
            "flags": list(self.flags),
        }

    @classmethod
    def from_json(cls, data: object) -> ParsedDocument:
        """The document `data` describes; `ValueError` if it is not exactly one."""
        fields = _object(data, _DOCUMENT_KEYS, "a document")
        title, kind, sections, flags = fields["title"], fields["kind"], fields["sections"], fields["flags"]
        if not isinstance(title, str):
            raise ValueError("expected a document's title to be a string")
        if not isinstance(kind, str) or not 0 < len(kind) <= MAX_KIND_CHARS:
            raise ValueError(f"expected a document's kind to be a string of 1 to {MAX_KIND_CHARS} characters")
        if not isinstance(sections, list):
            raise ValueError("expected a document's sections to be a list")
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            raise ValueError("expected a document's flags to be a list of strings")
        return cls(title=title, kind=kind, sections=[Section.from_json(s) for s in sections], flags=flags)


def _object(data: object, keys: set[str], what: str) -> dict[str, object]:
    if not isinstance(data, dict) or data.keys() != keys:
        raise ValueError(f"expected {what} with exactly the fields {sorted(keys)}")
    return data
