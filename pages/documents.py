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
from ui.downloads import csv_download
from ui.jobs_panel import announce, jobs_panel
from ui.upload_jobs import queued_message

REVIEW = {"overdue": "overdue", "due": "due soon", "ok": "up to date"}

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
            "Title": [d.title for d in listed],
            "File": [d.filename for d in listed],
            "Type": [d.kind for d in listed],
            "Size (KB)": [round(d.size_bytes / 1024, 1) for d in listed],
            "Chunks": [d.chunk_count for d in listed],
            "Tokens": [d.token_count for d in listed],
            "Version": [d.version for d in listed],
            "Uploaded": [d.updated_at for d in listed],
            "By": [d.uploaded_by for d in listed],
            "Status": [d.status + (" ⚠ " + ", ".join(d.flags) if d.flags else "") for d in listed],
            "Owner": [freshness[d.id].owner if d.id in freshness else "" for d in listed],
            "Review by": [freshness[d.id].review_by if d.id in freshness else None for d in listed],
            "Review": [REVIEW[freshness[d.id].status] if d.id in freshness else "" for d in listed],
        }
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={"Review by": st.column_config.DateColumn(format="D MMM YYYY")},
    )
    csv_download(table, "documents", label="Download as CSV")
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
        st.dataframe(pd.DataFrame(events), hide_index=True, width="stretch")
