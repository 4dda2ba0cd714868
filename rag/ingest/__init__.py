"""Ingestion: files in, documents in the library out.

In: a file's name and bytes (or folders of files) and who uploads them. Out: an `IngestResult`
per file: ingested, replaced (a new version of the same file name), duplicate (the same bytes are
there already), rejected (with the reason a person can act on) or failed; never a half-stored
document. Steps: size check, parse in a sandboxed subprocess (rag.parsing), chunk (rag.text),
embed in batches within the provider's rate limit, store in one transaction (rag.library); every
model call and every upload is logged.
"""

from rag.ingest.batch import collect_files, ingest_paths, sample_files, summary_line
from rag.ingest.events import recent_ingestion_events, record_ingestion_event
from rag.ingest.pipeline import IngestResult, Progress, ingest_file

__all__ = [
    "IngestResult",
    "Progress",
    "collect_files",
    "ingest_file",
    "ingest_paths",
    "recent_ingestion_events",
    "record_ingestion_event",
    "sample_files",
    "summary_line",
]
