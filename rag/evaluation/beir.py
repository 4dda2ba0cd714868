"""A dataset in the BEIR layout: corpus.jsonl[.gz], queries.jsonl[.gz] and qrels/<split>.tsv."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

QRELS_HEADER = ["query-id", "corpus-id", "score"]


@dataclass(frozen=True)
class BeirDocument:
    id: str
    title: str
    text: str

    @property
    def content(self) -> str:
        """What gets indexed: BEIR's convention is the title, a space, then the text."""
        return f"{self.title} {self.text}".strip()


@dataclass(frozen=True)
class BeirDataset:
    name: str
    documents: list[BeirDocument]
    queries: dict[str, str]  # query id -> text, in file order
    qrels: dict[str, dict[str, int]]  # query id -> corpus id -> graded relevance

    def judged_queries(self) -> list[tuple[str, str]]:
        """(id, text) of the queries with at least one relevant document, in file order."""
        return [
            (qid, text)
            for qid, text in self.queries.items()
            if any(score > 0 for score in self.qrels.get(qid, {}).values())
        ]


def load_beir(folder: Path, *, split: str = "test") -> BeirDataset:
    """Read a BEIR dataset; raises ConfigError naming the file and line when something is wrong."""
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder with a BEIR dataset")
    documents = [
        BeirDocument(_field(r, "_id", where), str(r.get("title") or ""), _field(r, "text", where))
        for r, where in _records(_jsonl_file(folder, "corpus"))
    ]
    if not documents:
        raise ConfigError(f"{folder}: the corpus has no documents")
    seen: set[str] = set()
    for d in documents:
        if d.id in seen:
            raise ConfigError(f"{folder}: the corpus has two documents with _id {d.id!r}")
        seen.add(d.id)
    queries = {_field(r, "_id", w): _field(r, "text", w) for r, w in _records(_jsonl_file(folder, "queries"))}
    dataset = BeirDataset(
        folder.resolve().name, documents, queries, _read_qrels(folder / "qrels" / f"{split}.tsv")
    )
    if not dataset.judged_queries():
        raise ConfigError(f"{folder}: no query in queries.jsonl has a relevant document in qrels/{split}.tsv")
    return dataset


def _jsonl_file(folder: Path, stem: str) -> Path:
    for path in (folder / f"{stem}.jsonl", folder / f"{stem}.jsonl.gz"):
        if path.is_file():
            return path
    raise ConfigError(f"{folder} has neither {stem}.jsonl nor {stem}.jsonl.gz")


def _records(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """Each JSON object of a .jsonl(.gz) file with its "file:line", for error messages."""
    try:
        with (
            gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")
        ) as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{path.name}:{number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise ConfigError(f"{where} is not valid JSON") from None
                if not isinstance(record, dict):
                    raise ConfigError(f"{where} is not a JSON object")
                yield record, where
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from None


def _field(record: dict[str, Any], name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"{where} has no {name!r} string")
    return str(value)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise ConfigError(f"{path} is missing: the relevance judgments (qrels) are needed")
    qrels: dict[str, dict[str, int]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from None
    if not lines or lines[0].split("\t") != QRELS_HEADER:
        raise ConfigError(f"{path} must start with the header line query-id<TAB>corpus-id<TAB>score")
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3 or not parts[2].strip().lstrip("-").isdigit():
            raise ConfigError(f"{path.name}:{number} must be query-id<TAB>corpus-id<TAB>integer score")
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels
