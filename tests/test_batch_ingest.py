"""Many files at once: results in the order given, and files really overlap."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa

from rag.ingest.batch import ingest_paths
from rag.providers.embedder import EmbeddingBatch
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder


class OverlapEmbedder(HashEmbedder):
    """Slow like an API; records how many embed calls ran at the same time."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0

    def embed(self, texts: list[str]) -> EmbeddingBatch:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(0.2)
            return super().embed(texts)
        finally:
            with self._lock:
                self.running -= 1


def _files(folder: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"note-{i}.md"
        path.write_text(f"# Note {i}\n\nTopic number {i} is about subject {i * 7} and nothing else.\n")
        paths.append(path)
    return paths


def test_files_at_once_overlap_and_keep_their_order(make_console: ConsoleFactory, tmp_path: Path) -> None:
    embedder = OverlapEmbedder()
    console = make_console(embedder=embedder)
    paths = [*_files(tmp_path, 4), tmp_path / "missing.md"]
    results = ingest_paths(console, paths, user="ana", files_at_once=2)
    assert [r.filename for r in results] == [p.name for p in paths]
    assert [r.outcome for r in results] == ["ingested"] * 4 + ["rejected"]
    assert embedder.most_at_once == 2
    with console.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == 4


def test_one_file_at_a_time_by_default(make_console: ConsoleFactory, tmp_path: Path) -> None:
    embedder = OverlapEmbedder()
    console = make_console(embedder=embedder)
    results = ingest_paths(console, _files(tmp_path, 3), user="ana")
    assert [r.outcome for r in results] == ["ingested"] * 3
    assert embedder.most_at_once == 1
