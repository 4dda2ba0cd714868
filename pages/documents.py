"""Documents: knowledge managers upload files, watch them being indexed and keep the library clean."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from rag.errors import ConsoleError
from rag.ingest import NewFile, SyncReport, enqueue, recent_ingestion_events, sample_files, sync_folder
from rag.library import delete_document, list_documents
from rag.library.freshness import DUE_WITHIN_DAYS, document_freshness
from rag.parsing import SUPPORTED_EXTENSIONS
from rag.text import escape_markdown
from ui.auth import current_user, require_page
from ui.console import get_console
from ui.jobs_panel import announce, jobs_panel
from ui.tables import Column, Columns, show_table
from ui.upload_jobs import STATE_LABELS, queued_message

REVIEW = {"overdue": "overdue", "due": "due soon", "ok": "up to date"}
LIBRARY_COLUMNS: Columns = {
    "title": Column("Title", width="medium"),
    "filename": "File",
    "kind": "Type",
    "size_bytes": Column("Size", "bytes"),
    "chunk_count": Column("Chunks", "count"),
    "token_count": Column("Tokens", "count"),
    "version": Column("Version", "count"),
    "updated_at": Column("Uploaded", "time", help="When its latest version was uploaded, in your time zone"),
    "uploaded_by": "By",
    "status": "Status",
    "owner": "Owner",
    "review_by": Column("Review by", "day"),
    "review": "Review",
}
EVENT_COLUMNS: Columns = {
    "created_at": Column("When", "time"),
    "filename": "File",
    "outcome": "Outcome",
    "reason": Column("Reason", width="large"),
    "chunk_count": Column("Chunks", "count"),
    "token_count": Column("Tokens", "count"),
    "duration_ms": Column("Took", "duration_ms"),
    "uploaded_by": "Uploaded by",
}

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
    enqueue(console, [NewFile(file.name, file.getvalue()) for file in files], user=user)
    st.success(queued_message([file.name for file in files]), icon=":material/schedule:")

folders = console.settings.sync_folders
if folders:
    with st.expander("Sync a server folder"):
        st.caption(
            "New and changed files in the folder are queued; documents whose files were removed from "
            "it leave the library. Documents uploaded by hand are never touched."
        )
        folder = st.selectbox("Folder", folders, format_func=str)  # options are plain text
        if st.button("Sync now", icon=":material/sync:") and folder is not None:
            try:
                st.session_state["sync_report"] = sync_folder(console, folder, user=user)
            except ConsoleError as exc:
                st.error(escape_markdown(str(exc)))
        report: SyncReport | None = st.session_state.get("sync_report")
        if report is not None:
            st.success(escape_markdown(report.summary()), icon=":material/sync:")
            for heading, names in (
                ("Removed from the library (their files are gone):", report.removed),
                ("Could not be read:", report.unreadable),
            ):
                if names:
                    st.caption(heading)
                    st.text("\n".join(names))

st.subheader("Uploads")
active_jobs = jobs_panel(console)

documents = list_documents(console.engine, console.kb)
st.subheader(f"Library ({len(documents)} document{'' if len(documents) == 1 else 's'})")
if not documents:
    st.info(
        "The library is empty. Upload PDF, Word, HTML, Markdown, text or CSV files above: each is split "
        "into passages and indexed, and then the Ask page answers from them. To try the console first, "
        "load a small sample knowledge base (a fictional cloud-storage company's policies)."
    )
    if active_jobs:
        st.caption("The library fills as the queued files are indexed.")
    elif st.button("Load the sample knowledge base", icon=":material/library_add:"):
        samples = sample_files()
        enqueue(console, [NewFile(path.name, path.read_bytes()) for path in samples], user=user)
        announce(f"Queued the {len(samples)} sample files.", done=True)
else:
    freshness = {d.id: d for d in document_freshness(console.engine, console.kb)}
    due_only = st.toggle(
        "Only documents due for review",
        help=f"Past their review date, or due within {DUE_WITHIN_DAYS} days. The Freshness page ranks them.",
    )
    listed = (
        [d for d in documents if d.id in freshness and freshness[d.id].status != "ok"]
        if due_only
        else documents
    )
    if not listed:
        st.success(
            f"No document is due for review in the next {DUE_WITHIN_DAYS} days.", icon=":material/task_alt:"
        )
    table = pd.DataFrame(
        {
            "title": [d.title for d in listed],
            "filename": [d.filename for d in listed],
            "kind": [d.kind for d in listed],
            "size_bytes": [d.size_bytes for d in listed],
            "chunk_count": [d.chunk_count for d in listed],
            "token_count": [d.token_count for d in listed],
            "version": [d.version for d in listed],
            "updated_at": [d.updated_at for d in listed],
            "uploaded_by": [d.uploaded_by for d in listed],
            "status": [d.status + (" ⚠ " + ", ".join(d.flags) if d.flags else "") for d in listed],
            "owner": [freshness[d.id].owner if d.id in freshness else None for d in listed],
            "review_by": [freshness[d.id].review_by if d.id in freshness else None for d in listed],
            "review": [REVIEW[freshness[d.id].status] if d.id in freshness else None for d in listed],
        }
    )
    show_table(table, LIBRARY_COLUMNS, download="documents")
    with st.expander("Delete a document"):
        labels = {d.id: f"{d.title} ({d.filename}, {d.chunk_count} chunks)" for d in documents}
        chosen = st.selectbox("Document", list(labels), format_func=labels.__getitem__)
        confirm = st.checkbox("Yes, delete it and all its passages")
        if st.button("Delete", type="primary", disabled=not confirm, icon=":material/delete:"):
            delete_document(console.engine, console.kb, chosen, user=user)
            st.toast(f"Deleted {escape_markdown(labels[chosen])}")
            st.rerun()

events = recent_ingestion_events(console.engine, console.kb)
if events:
    with st.expander("Recent uploads, including the ones that failed and why"):
        log = pd.DataFrame(events)
        log["outcome"] = log["outcome"].map(lambda outcome: STATE_LABELS.get(outcome, outcome))
        show_table(log, EVENT_COLUMNS)
