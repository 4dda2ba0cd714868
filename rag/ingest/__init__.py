"""Ingestion: files in, documents in the library out, as durable jobs run by workers.

In: a file's name and bytes (or folders of files) and who uploads them; `enqueue` keeps them and
queues a job per file, and a worker (`run_worker`, `python -m rag worker`) runs `ingest_file` for
it, writing the job's state as it goes. Out: an `IngestResult`
per file: ingested, replaced (a new version of the same file name), duplicate (the same bytes are
there already), rejected (with the reason a person can act on) or failed; never a half-stored
document. Steps: size check, parse in a sandboxed subprocess (rag.parsing), chunk (rag.text),
embed in batches within the provider's rate limit, store in one transaction (rag.library); every
model call and every upload is logged.
"""

from rag.ingest.batch import collect_files, ingest_paths, sample_files, summary_line
from rag.ingest.events import recent_ingestion_events, record_ingestion_event
from rag.ingest.folder_sync import SyncReport, sync_folder
from rag.ingest.jobs import ACTIVE, JobState, JobView, NewFile, job_fraction, job_views
from rag.ingest.pipeline import IngestResult, Progress, ingest_file
from rag.ingest.queue import cancel, enqueue, retry, workers_alive
from rag.ingest.wait import wait_for_jobs
from rag.ingest.worker import PeriodicJob, run_worker

__all__ = [
    "ACTIVE",
    "IngestResult",
    "JobState",
    "JobView",
    "NewFile",
    "PeriodicJob",
    "Progress",
    "SyncReport",
    "cancel",
    "collect_files",
    "enqueue",
    "ingest_file",
    "ingest_paths",
    "job_fraction",
    "job_views",
    "recent_ingestion_events",
    "record_ingestion_event",
    "retry",
    "run_worker",
    "sample_files",
    "summary_line",
    "sync_folder",
    "wait_for_jobs",
    "workers_alive",
]
