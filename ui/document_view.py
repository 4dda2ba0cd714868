"""A source's document: who keeps it and when it changed, and the document itself a click away.

The dialog shows the document's text around the cited passage (a PDF's page, another file's
section), the passage highlighted, the rest of the document a toggle away; and a download: the
original file while it is still kept, else the document's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo

import streamlit as st

from rag.answer.cited_sentences import Span, highlighted_markdown
from rag.answer.source_documents import DocumentChunk, SourceDocument, document_chunks, original_file
from rag.console import Console
from rag.retrieval import Passage
from rag.text import escape_markdown
from ui.downloads import file_download
from ui.tables import reader_timezone

CONTEXT_CHUNKS = 2  # chunks shown before and after the cited one
_MIME = {"pdf": "application/pdf", "html": "text/html", "markdown": "text/markdown", "csv": "text/csv"}


def human_time(when: datetime, zone: tzinfo) -> str:
    local = when.astimezone(zone)
    return f"{human_date(local.date())}, {local:%H:%M} {local.tzname() or ''}".rstrip()


def human_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def document_facts(document: SourceDocument, zone: tzinfo) -> str:
    """'Uploaded by ann · owned by bob · version 2, changed 3 Mar 2025, 14:05 CET' as literal Markdown."""
    parts = [f"Uploaded by {document.uploaded_by}"]
    if document.owner != document.uploaded_by:
        parts.append(f"owned by {document.owner}")
    changed = human_time(document.updated_at, zone)
    parts.append(
        f"version {document.version}, changed {changed}" if document.version > 1 else f"changed {changed}"
    )
    return escape_markdown(" · ".join(parts))


def where_cited(document: SourceDocument, chunk: DocumentChunk | None, passage: Passage) -> str:
    """'page 4' for a PDF, the section for anything else (plain text)."""
    if document.kind == "pdf" and chunk is not None and chunk.page_start is not None:
        return f"page {chunk.page_start}"
    return passage.location or "the cited passage"


def open_document_button(
    console: Console, passage: Passage, document: SourceDocument, spans: list[Span], *, key: str
) -> None:
    if st.button("Open document", key=key, icon=":material/description:", type="tertiary"):
        st.dialog("Source document", width="large")(_document_dialog)(console, passage, document, spans)


def _document_dialog(console: Console, passage: Passage, document: SourceDocument, spans: list[Span]) -> None:
    chunks = document_chunks(console.engine, document.id)
    at = next((i for i, c in enumerate(chunks) if c.id == passage.chunk_id), None)
    cited = chunks[at] if at is not None else None
    st.markdown(f"**{escape_markdown(document.title)}** ({escape_markdown(document.filename)})")
    where = escape_markdown(where_cited(document, cited, passage))
    st.caption(f"Cited at {where}. {document_facts(document, reader_timezone())}")
    _download(console, document, chunks, cited)
    whole = st.toggle("Whole document", key=f"whole-{document.id}-{passage.chunk_id}")
    if at is None:
        shown: Sequence[DocumentChunk] = chunks
    else:
        shown = chunks if whole else chunks[max(0, at - CONTEXT_CHUNKS) : at + CONTEXT_CHUNKS + 1]
    with st.container(height=480):
        for chunk in shown:
            if chunk.location:
                st.caption(escape_markdown(chunk.location))
            st.markdown(highlighted_markdown(chunk.text, spans if chunk is cited else []))


def _download(
    console: Console, document: SourceDocument, chunks: Sequence[DocumentChunk], cited: DocumentChunk | None
) -> None:
    data = original_file(console.engine, document.content_hash)
    if data is not None:
        label = "Download the original"
        if document.kind == "pdf" and cited is not None and cited.page_start is not None:
            label += f" (PDF: turn to page {cited.page_start})"
        mime = _MIME.get(document.kind, "application/octet-stream")
        file_download(data, document.filename, label=label, mime=mime)
        return
    # A document ingested before originals were kept (or from the command line) has only its text.
    text = "\n\n".join(c.text for c in chunks)
    file_download(
        text.encode("utf-8"),
        f"{document.filename}.txt",
        label="Download the document's text",
        mime="text/plain",
    )
    st.caption("The original file of this document is not kept; its text is.")
