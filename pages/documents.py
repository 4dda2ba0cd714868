"""Documents: knowledge managers upload files and keep the library clean."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from rag.ingest import IngestResult, ingest_file, ingest_paths, recent_ingestion_events, sample_files
from rag.library import delete_document, list_documents
from rag.parsing import SUPPORTED_EXTENSIONS
from ui.auth import current_user, require_page
from ui.console import get_console

OUTCOME_ICONS = {
    "ingested": ":material/check_circle:",
    "replaced": ":material/published_with_changes:",
    "duplicate": ":material/content_copy:",
    "rejected": ":material/block:",
    "failed": ":material/error:",
}


def _file_progress(bar: DeltaGenerator, name: str) -> Callable[[float, str], None]:
    """Moves one file's progress bar as ingestion reports its stages."""

    def report(fraction: float, stage: str) -> None:
        bar.progress(min(fraction, 1.0), text=f"{name}: {stage}")

    return report


account = require_page(__file__)  # before drawing anything
console = get_console()
user = current_user(console)
st.title("Documents")

with st.form("upload", clear_on_submit=True):
    files = st.file_uploader(
        "Add documents: PDF, Word, HTML, Markdown, text or CSV, "
        f"up to {console.settings.max_upload_mb:g} MB each",
        type=[ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS],
        accept_multiple_files=True,
    )
    submitted = st.form_submit_button("Upload and index", icon=":material/upload:", type="primary")

if submitted and not files:
    st.warning("Choose one or more files first.")
if submitted and files:
    results: list[IngestResult] = []
    for file in files:
        bar = st.progress(0.0, text=f"{file.name}: starting")
        result = ingest_file(
            console,
            file.name,
            file.getvalue(),
            user=user,
            progress=_file_progress(bar, file.name),
        )
        bar.empty()
        results.append(result)
    st.session_state["upload_results"] = results

for result in st.session_state.get("upload_results", []):
    show = st.success if result.outcome in ("ingested", "replaced") else st.info if result.ok else st.error
    show(f"**{result.filename}**: {result.outcome}. {result.message}", icon=OUTCOME_ICONS[result.outcome])

documents = list_documents(console.engine, console.kb)
st.subheader(f"Library ({len(documents)} document{'' if len(documents) == 1 else 's'})")
if not documents:
    st.info(
        "The library is empty. Upload PDF, Word, HTML, Markdown, text or CSV files above: each is split "
        "into passages and indexed, and then the Ask page answers from them. To try the console first, "
        "load a small sample knowledge base (a fictional cloud-storage company's policies)."
    )
    if st.button("Load the sample knowledge base", icon=":material/library_add:"):
        samples = sample_files()
        bar = st.progress(0.0, text="Loading samples")

        def on_file(index: int, total: int, path: Path) -> None:
            bar.progress(index / total, text=f"Indexing {path.name} ({index + 1}/{total})")

        loaded = ingest_paths(console, samples, user=user, on_file=on_file)
        st.session_state["upload_results"] = loaded
        st.rerun()
else:
    table = pd.DataFrame(
        {
            "Title": [d.title for d in documents],
            "File": [d.filename for d in documents],
            "Type": [d.kind for d in documents],
            "Size (KB)": [round(d.size_bytes / 1024, 1) for d in documents],
            "Chunks": [d.chunk_count for d in documents],
            "Tokens": [d.token_count for d in documents],
            "Version": [d.version for d in documents],
            "Uploaded": [d.updated_at for d in documents],
            "By": [d.uploaded_by for d in documents],
            "Status": [d.status + (" ⚠ " + ", ".join(d.flags) if d.flags else "") for d in documents],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button(
        "Download as CSV", table.to_csv(index=False), "documents.csv", "text/csv", icon=":material/download:"
    )
    with st.expander("Delete a document"):
        labels = {d.id: f"{d.title} ({d.filename}, {d.chunk_count} chunks)" for d in documents}
        chosen = st.selectbox("Document", list(labels), format_func=labels.__getitem__)
        confirm = st.checkbox("Yes, delete it and all its passages")
        if st.button("Delete", type="primary", disabled=not confirm, icon=":material/delete:"):
            delete_document(console.engine, console.kb, chosen, user=user)
            st.session_state.pop("upload_results", None)
            st.toast(f"Deleted {labels[chosen]}")
            st.rerun()

events = recent_ingestion_events(console.engine, console.kb)
if events:
    with st.expander("Recent uploads, including the ones that failed and why"):
        st.dataframe(pd.DataFrame(events), hide_index=True, width="stretch")
