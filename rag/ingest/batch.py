"""Ingest many files (folders walked), as the CLI and the sample-library button do."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rag.console import Console
from rag.ingest.pipeline import IngestResult, Progress, ingest_file
from rag.parsing import SUPPORTED_EXTENSIONS

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples" / "knowledge-base"

FileProgress = Callable[[int, int, Path], Progress | None]  # (index, total, path) -> that file's progress


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Files of supported types under `paths`, in a stable order; hidden files are skipped."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return found


def ingest_paths(
    console: Console,
    paths: list[Path],
    *,
    user: str,
    on_file: FileProgress | None = None,
    files_at_once: int = 1,
) -> list[IngestResult]:
    """Ingest each file, `files_at_once` at a time (results in the order of `paths`).

    More than one at a time overlaps one file's parsing (in its own process), embedding requests
    and storing with another's; `on_file`'s progress is then called from worker threads, so a
    Streamlit page, whose widgets live on its own thread, keeps the default of 1.
    """

    def one(item: tuple[int, Path]) -> IngestResult:
        i, path = item
        progress = on_file(i, len(paths), path) if on_file else None
        try:
            data = path.read_bytes()
        except OSError as exc:
            return IngestResult(path.name, "rejected", f"Cannot read the file: {exc.strerror}")
        return ingest_file(console, path.name, data, user=user, progress=progress)

    if files_at_once <= 1 or len(paths) <= 1:
        return [one(item) for item in enumerate(paths)]
    with ThreadPoolExecutor(min(files_at_once, len(paths)), thread_name_prefix="ingest") as pool:
        return list(pool.map(one, enumerate(paths)))


def sample_files() -> list[Path]:
    return collect_files([SAMPLES_DIR])


def summary_line(results: list[IngestResult], seconds: float) -> str:
    counts = {
        o: sum(r.outcome == o for r in results)
        for o in ("ingested", "replaced", "duplicate", "rejected", "failed")
    }
    chunks = sum(r.chunk_count for r in results if r.outcome in ("ingested", "replaced"))
    parts = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    return f"{len(results)} files: {parts or 'nothing to do'}; {chunks} chunks in {seconds:.1f} s"
