"""Uploaded files to text: one parser per format behind `parse_document`."""

from rag.parsing.dispatch import SUPPORTED_EXTENSIONS, parse_document
from rag.parsing.document import ParsedDocument, Section

__all__ = ["SUPPORTED_EXTENSIONS", "ParsedDocument", "Section", "parse_document"]
