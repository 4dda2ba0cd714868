"""The Documents page's live jobs panel: each upload's state, read from PostgreSQL.

The panel redraws itself every `REFRESH_S` while a job is active, without rerunning the page.
When the set of active jobs changes (one ended, or someone queued more), the whole page reruns:
the library has changed, and so has whether the panel needs refreshing at all.
"""

from __future__ import annotations

import streamlit as st

from rag.console import Console
from rag.ingest import JobView, cancel, job_views, retry, workers_alive
from ui.tables import show_table
from ui.upload_jobs import JOB_COLUMNS, cancel_message, job_choice, jobs_frame, retry_message

REFRESH_S = 1.5
HOURS = 24
NO_WORKER = "No worker is running: start one with `python -m rag worker`; queued files wait until then."
_NOTICE = "jobs_notice"


def jobs_panel(console: Console) -> int:
    """Draw the panel; returns how many jobs were active when the page ran."""
    _show_notice()
    active = _active_ids(job_views(console.engine, console.kb, hours=HOURS))
    panel = st.fragment(_panel, run_every=REFRESH_S if active else None)
    panel(console, active)
    return len(active)


def announce(markdown: str, *, done: bool) -> None:
    """Say what an action did on the page's next run (a toast), and start that run."""
    st.session_state[_NOTICE] = (markdown, done)
    st.rerun()


def _panel(console: Console, active_at_page_run: frozenset[int]) -> None:
    views = job_views(console.engine, console.kb, hours=HOURS)
    if _active_ids(views) != active_at_page_run:
        st.rerun()
    workers = workers_alive(console.engine, within_s=console.settings.worker_stalled_after_s)
    if not workers:
        st.warning(NO_WORKER, icon=":material/engineering:")
    if not views:
        st.caption(
            f"No uploads in the last {HOURS} hours. Uploaded files wait here in a queue while a "
            "worker indexes them; you can leave the page meanwhile."
        )
        return
    show_table(jobs_frame(views, worker_running=workers > 0), JOB_COLUMNS)
    _controls(console, views)


def _controls(console: Console, views: list[JobView]) -> None:
    by_id = {v.id: v for v in views}
    running = [v.id for v in views if v.active]
    ended = [v.id for v in views if v.retryable]
    if not running and not ended:
        return
    slots = iter(st.columns(2))  # side by side, each in the next free column
    if running:
        with next(slots):
            chosen = st.selectbox(
                "Cancel a queued or running upload",
                running,
                format_func=lambda i: job_choice(by_id[i]),
                key="cancel_job",
            )
            if st.button("Cancel upload", icon=":material/cancel:") and chosen is not None:
                text, done = cancel_message(by_id[chosen].filename, cancel(console, chosen))
                announce(text, done=done)
    if ended:
        with next(slots):
            chosen = st.selectbox(
                "Retry a failed or cancelled upload",
                ended,
                format_func=lambda i: job_choice(by_id[i]),
                key="retry_job",
            )
            if st.button("Retry upload", icon=":material/replay:") and chosen is not None:
                text, done = retry_message(by_id[chosen].filename, retry(console, chosen))
                announce(text, done=done)


def _show_notice() -> None:
    notice: tuple[str, bool] | None = st.session_state.pop(_NOTICE, None)
    if notice is not None:
        text, done = notice
        st.toast(text, icon=":material/check_circle:" if done else ":material/info:")


def _active_ids(views: list[JobView]) -> frozenset[int]:
    return frozenset(v.id for v in views if v.active)
