"""Build the knowledge base's HNSW index as the app does, and record what it took.

The graph's density (pgvector's m and ef_construction) is the app's unless given. Recorded: time,
the index's size, `maintenance_work_mem` and parallel workers used, whether pgvector said
the graph outgrew `maintenance_work_mem` (then it builds on disk, much slower), and the server's
memory: the proportional set size (PSS, shared pages split between the processes that map them)
of the postmaster and all its children, sampled every 0.2 s during the build.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rag.library.indexes import (
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    drop_vector_index,
    ensure_vector_index,
    index_name,
)
from rag.library.knowledge_bases import KnowledgeBaseRef

SAMPLE_S = 0.2


@dataclass(frozen=True)
class IndexBuild:
    size: int
    index_type: str
    seconds: float
    index_mb: float
    maintenance_work_mem: str
    workers: int
    fit_in_memory: bool
    notices: list[str]
    server_before_mb: float
    server_peak_mb: float
    m: int = HNSW_M
    ef_construction: int = HNSW_EF_CONSTRUCTION


def build_index(
    engine: Engine,
    kb: KnowledgeBaseRef,
    size: int,
    maintenance_work_mem: str,
    workers: int,
    *,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
) -> IndexBuild:
    with engine.connect() as conn:
        conn.execute(
            sa.text("SELECT set_config('maintenance_work_mem', :m, false)"), {"m": maintenance_work_mem}
        )
        conn.execute(
            sa.text("SELECT set_config('max_parallel_maintenance_workers', :w, false)"), {"w": str(workers)}
        )
        postmaster = _parent(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        notices = conn.connection.driver_connection.notices  # type: ignore[union-attr]
        notices.clear()
        sampler = _PeakMemory(postmaster)
        started = time.perf_counter()
        with sampler:
            ensure_vector_index(conn, kb, m=m, ef_construction=ef_construction)
            conn.commit()
        seconds = time.perf_counter() - started
        index_bytes = conn.execute(
            sa.text("SELECT pg_relation_size(CAST(:n AS regclass))"), {"n": index_name(kb.id)}
        ).scalar_one()
        conn.execute(sa.text("RESET maintenance_work_mem"))
        conn.execute(sa.text("RESET max_parallel_maintenance_workers"))
        conn.commit()
    said = [str(n).strip() for n in notices]
    return IndexBuild(
        size,
        kb.index_type,
        seconds,
        index_bytes / 2**20,
        maintenance_work_mem,
        workers,
        not any("maintenance_work_mem" in n for n in said),
        said,
        sampler.before / 2**20,
        sampler.peak / 2**20,
        m,
        ef_construction,
    )


def drop_index(engine: Engine, kb: KnowledgeBaseRef) -> None:
    with engine.begin() as conn:
        drop_vector_index(conn, kb.id)


def _parent(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def server_pss(postmaster: int) -> int:
    """Bytes of PSS of the postmaster and its children (backends, parallel workers, background)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            pid = int(proc.name)
            if pid != postmaster and _parent(pid) != postmaster:
                continue
            for line in (proc / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue  # a process that ended while we looked
    return total


class _PeakMemory:
    def __init__(self, postmaster: int) -> None:
        self._postmaster = postmaster
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.before = 0
        self.peak = 0

    def __enter__(self) -> _PeakMemory:
        self.before = self.peak = server_pss(self._postmaster)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.peak = max(self.peak, server_pss(self._postmaster))
