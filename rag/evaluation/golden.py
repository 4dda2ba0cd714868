"""A golden set a knowledge manager uploads: questions and the documents that should answer them.

CSV with a `question` column and a `document` column (several documents separated by `;`), or
JSON: a list of {"question": ..., "document": ...} like samples/questions.json. Documents are
named by file name or title as the library shows them. Rows without a document are skipped.
"""

from __future__ import annotations

import csv
import io
import json

from rag.errors import RejectedFile
from rag.evaluation.beir import BeirDataset
from rag.library.documents import DocumentSummary

MAX_QUESTIONS = 2000


def load_golden_set(filename: str, data: bytes, library: list[DocumentSummary]) -> BeirDataset:
    """Questions and judgments keyed by file name, ready for `evaluate` on the user's library."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RejectedFile("The golden set must be UTF-8 text (CSV or JSON).") from None
    rows = _json_rows(text) if filename.lower().endswith(".json") else _csv_rows(text)
    by_name = {d.filename.lower(): d.filename for d in library} | {
        d.title.lower(): d.filename for d in library
    }
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    unknown: set[str] = set()
    for question, names in rows:
        wanted = {by_name[n.lower()] for n in names if n.lower() in by_name}
        unknown |= {n for n in names if n.lower() not in by_name}
        if question and wanted:
            qid = f"q{len(queries) + 1}"
            queries[qid], qrels[qid] = question, dict.fromkeys(wanted, 1)
    if unknown:
        shown = ", ".join(sorted(unknown)[:5])
        raise RejectedFile(f"These documents are not in the library: {shown}. Use file names or titles.")
    if not queries:
        raise RejectedFile("The golden set has no question with a document to find.")
    if len(queries) > MAX_QUESTIONS:
        raise RejectedFile(f"The golden set has {len(queries):,} questions; the limit is {MAX_QUESTIONS:,}.")
    return BeirDataset(name="golden set", documents=[], queries=queries, qrels=qrels)


def _csv_rows(text: str) -> list[tuple[str, list[str]]]:
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    question = fields.get("question")
    document = fields.get("document") or fields.get("documents")
    if question is None or document is None:
        raise RejectedFile("The CSV needs a header with the columns 'question' and 'document'.")
    try:
        return [((row.get(question) or "").strip(), _names(row.get(document) or "")) for row in reader]
    except csv.Error as exc:
        raise RejectedFile(f"The CSV could not be read: {exc}") from None


def _json_rows(text: str) -> list[tuple[str, list[str]]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RejectedFile(f"The JSON could not be read: {exc.msg} (line {exc.lineno}).") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise RejectedFile('The JSON must be a list of {"question": ..., "document": ...} objects.')
    return [(str(i.get("question") or "").strip(), _names(i.get("document") or "")) for i in items]


def _names(value: object) -> list[str]:
    values = value if isinstance(value, list) else str(value).split(";")
    return [str(v).strip() for v in values if str(v).strip()]
