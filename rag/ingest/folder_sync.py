"""A server folder kept in sync with the library: new and changed files queued, vanished ones removed.

Documents carry the folder they were synced from (`documents.source`), so a file that disappears
from the folder removes its document, and documents uploaded by hand are never touched. A synced
file is named by its path inside the folder ("policies/refunds.md"), so files of the same name in
two subfolders stay two documents; a changed file becomes a new version of its document.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from db.models import Document, IngestionJob
from rag.console import Console
from rag.errors import InvalidInput
from rag.ingest.batch import collect_files
from rag.ingest.jobs import ACTIVE, NewFile
from rag.ingest.queue import enqueue
from rag.library.documents import delete_document


@dataclass(frozen=True)
class SyncReport:
    folder: str
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int
    unreadable: list[str]
    job_ids: list[int]

    def summary(self) -> str:
        return (
            f"{self.folder}: {len(self.added)} new, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {self.unchanged} unchanged"
            + (f", {len(self.unreadable)} unreadable" if self.unreadable else "")
        )


def sync_folder(console: Console, folder: Path, *, user: str) -> SyncReport:
    """Queue the folder's new and changed files and remove the documents whose files are gone."""
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder on the server.")
    source = str(folder)
    synced = _synced_documents(console, source)
    known = _hashes_by_name(console)
    pending = _pending_or_refused(console, source)
    added: list[str] = []
    changed: list[str] = []
    unreadable: list[str] = []
    unchanged = 0
    files: list[NewFile] = []
    seen: set[str] = set()
    for path in collect_files([folder]):
        name = path.relative_to(folder).as_posix()
        seen.add(name)
        try:
            data = path.read_bytes()
        except OSError:
            unreadable.append(name)
            continue
        previous = known.get(name)
        content_hash = hashlib.sha256(data).hexdigest()
        if content_hash in (previous, pending.get(name)):  # stored, queued or refused as it is
            unchanged += 1
            continue
        (changed if previous is not None else added).append(name)
        files.append(NewFile(name, data, source=source))
    job_ids = enqueue(console, files, user=user) if files else []
    removed = [name for name in sorted(synced) if name not in seen]
    for name in removed:
        delete_document(console.engine, console.kb, synced[name], user=user)
    return SyncReport(source, added, changed, removed, unchanged, unreadable, job_ids)


def _synced_documents(console: Console, source: str) -> dict[str, int]:
    with console.engine.connect() as conn:
        rows = conn.execute(
            sa.select(Document.filename, Document.id).where(
                Document.knowledge_base_id == console.kb.id, Document.source == source
            )
        ).all()
    return {r.filename: r.id for r in rows}


def _pending_or_refused(console: Console, source: str) -> dict[str, str]:
    """Content hashes of this folder's files whose latest job is still waiting or running, or
    refused them (a rejected file is not parsed again until it changes)."""
    job = IngestionJob
    latest = (
        sa.select(job.filename, job.content_hash, job.state)
        .distinct(job.filename)
        .where(job.knowledge_base_id == console.kb.id, job.source == source)
        .order_by(job.filename, job.id.desc())
        .subquery()
    )
    with console.engine.connect() as conn:
        rows = conn.execute(
            sa.select(latest.c.filename, latest.c.content_hash).where(
                latest.c.state.in_([*ACTIVE, "rejected"])
            )
        ).all()
    return {r.filename: r.content_hash for r in rows}


def _hashes_by_name(console: Console) -> dict[str, str]:
    with console.engine.connect() as conn:
        rows = conn.execute(
            sa.select(Document.filename, Document.content_hash).where(
                Document.knowledge_base_id == console.kb.id
            )
        ).all()
    return {r.filename: r.content_hash for r in rows}
