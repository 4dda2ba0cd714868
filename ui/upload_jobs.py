"""Ingestion jobs shaped for the Documents page: the jobs table, the choices and the messages."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from rag.ingest.jobs import JobState, JobView, job_fraction
from rag.text import escape_markdown
from ui.tables import Column, Columns

STATE_LABELS: dict[JobState, str] = {
    "queued": "Queued",
    "parsing": "Parsing",
    "embedding": "Embedding",
    "storing": "Storing",
    "ingested": "Ingested",
    "replaced": "Replaced",
    "duplicate": "Duplicate",
    "rejected": "Rejected",
    "failed": "Failed",
    "cancelled": "Cancelled",
}

# Dates relative to now. Details, the longest, comes last in the table and takes the width left.
JOB_COLUMNS: Columns = {
    "Job": Column("Job", "id", width="small"),
    "File": "File",
    "State": "State",
    "Progress": Column("Progress", "progress"),
    "Uploaded by": "Uploaded by",
    "Uploaded": Column("Uploaded", "time_ago"),
    "Details": "Details",
}


def jobs_frame(views: Sequence[JobView], *, worker_running: bool) -> pd.DataFrame:
    """One row per job, in the order given. Progress is in percent, empty once a job ended; then
    its details say how it ended (chunks and tokens stored, or the reason)."""
    return pd.DataFrame(
        {
            "Job": [v.id for v in views],
            "File": [v.filename for v in views],
            "State": [STATE_LABELS[v.state] for v in views],
            "Progress": [round(100 * job_fraction(v)) if v.active else None for v in views],
            "Uploaded by": [v.uploaded_by for v in views],
            "Uploaded": [v.created_at for v in views],
            "Details": [job_details(v, worker_running=worker_running) for v in views],
        }
    )


def job_details(view: JobView, *, worker_running: bool) -> str:
    """What a running job is doing, or why an ended job ended as it did."""
    if view.state == "queued":
        return "Waiting for a worker" if not worker_running else "Waiting for its turn"
    if view.state == "parsing":
        return "Reading the file"
    if view.state == "embedding":
        if not view.batches_total:
            return "Embedding the passages"
        return f"{view.batches_done} of {view.batches_total} batches embedded"
    if view.state == "storing":
        return "Storing the passages"
    return view.message or ""


def job_choice(view: JobView) -> str:
    """A job in a select box (plain text, not Markdown): its number ties it to the table's row, and
    it does not change as the job runs, so a refresh leaves the choice alone."""
    return f"{view.filename} (job {view.id}, by {view.uploaded_by})"


def queued_message(filenames: Sequence[str]) -> str:
    """Markdown: which files were queued, with their names shown as text."""
    names = ", ".join(escape_markdown(name) for name in filenames[:5])
    more = f" and {len(filenames) - 5} more" if len(filenames) > 5 else ""
    count = f"{len(filenames)} file{'' if len(filenames) == 1 else 's'}"
    return f"Queued {count}: {names}{more}. They are indexed in the background; you can leave this page."


def cancel_message(filename: str, state: str | None) -> tuple[str, bool]:
    """Markdown for what a cancel did, and whether it did anything."""
    name = f"**{escape_markdown(filename)}**"
    if state == "cancelled":
        return f"Cancelled {name}: it will not be indexed.", True
    if state is not None:
        return f"Stopping {name}: it stops at its next step and nothing of it is stored.", True
    return f"{name} had already ended; there was nothing to cancel.", False


def retry_message(filename: str, queued: bool) -> tuple[str, bool]:
    """Markdown for what a retry did, and whether it did anything."""
    name = f"**{escape_markdown(filename)}**"
    if queued:
        return f"Queued {name} again.", True
    return (
        f"{name} was not queued again: it is no longer failed or cancelled, "
        "or its uploaded file is gone (upload it again).",
        False,
    )
