"""The Cranfield collection in the BEIR layout: `python -m bench.cranfield SOURCE [--out DIR]`.

Not a test. The second public collection the retrieval-quality benchmark scores beside SciFact
(bench/README.md, "Hybrid fusion on two collections"). Cranfield (Cleverdon, 1960s; aeronautics
abstracts: 1,400 documents, 225 queries, graded judgments) is a classic public IR test collection
and small enough to embed in a minute. No BEIR collection could be had on this machine (BEIR's
smallest corpora, NFCorpus and ArguAna, are 6-9 MB files that the available sources do not hold).

SOURCE is a folder with the three original files, byte for byte as published (SHA256 below; the
copy used was github.com/noramtboraas/information-retrieval at commit
4ea1b8e02da1db64b68b0364d50620b3c95528dc; the same files are at ir.dcs.gla.ac.uk/resources/
test_collections/cran/). The output (git-ignored under data/bench) is corpus.jsonl, queries.jsonl
and qrels/test.tsv, which `rag.evaluation.beir.load_beir` reads.

Two conversions, both the usual ones:
- Query ids: cran.qry numbers its queries 001..365 with gaps, but cranqrel numbers them 1..225 in
  file order; the qrels' number is the query's position, so the BEIR query id is the position.
- Grades: Cleverdon's codes run 1 (a complete answer) to 4 (minimum interest), -1 no interest; the
  graded nDCG needs higher is better, so the grade is 5 - code (4..1) and -1 is left out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

SOURCES = {
    "cran.all.1400": "fbb8935a93263ab6c9fadefb507fd7cd5e101e7fbeb31c12e6bff6dd501315e8",
    "cran.qry": "99578ceb88941ef89c14faf7c63c23776a376d8fba319b990f01d0c601d8b03f",
    "cranqrel": "a90f56082cd44db70bf2c21ebca39a1a34e37c82ccb5ddf1bcc64f18795234c7",
}
DEFAULT_OUT = Path("data/bench/cranfield")


def records(text: str) -> list[dict[str, str]]:
    """The `.I` records of a SMART-format file, each field (`T`, `A`, `B`, `W`) as one line of text."""
    out: list[dict[str, str]] = []
    field = ""
    for line in text.splitlines():
        if line.startswith(".I"):
            out.append({"I": line[2:].strip()})
            field = ""
        elif len(line) == 2 and line.startswith("."):
            field = line[1]
            out[-1][field] = ""
        elif field:
            out[-1][field] = f"{out[-1][field]} {line.strip()}".strip()
    return out


def convert(source: Path, out: Path) -> tuple[int, int, int]:
    """Write the BEIR layout of the Cranfield files in `source`; (documents, queries, judgments)."""
    texts = {}
    for name, digest in SOURCES.items():
        data = (source / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise SystemExit(f"{source / name}: unexpected SHA256 (expected {digest})")
        texts[name] = data.decode("utf-8")
    documents = []
    for r in records(texts["cran.all.1400"]):
        title, body = r.get("T", ""), r.get("W", "")
        # The abstract repeats the title first: keep it once (the harness indexes title + text).
        if title and body.startswith(title):
            body = body[len(title) :].strip()
        if title or body:  # documents 471 and 995 are empty: nothing to index
            documents.append({"_id": r["I"], "title": title, "text": body})
    queries = [
        {"_id": str(position), "text": r["W"]}
        for position, r in enumerate(records(texts["cran.qry"]), start=1)
    ]
    qrels = []
    for line in texts["cranqrel"].splitlines():
        if line.strip():
            query, doc, code = line.split()
            if 1 <= int(code) <= 4:
                qrels.append(f"{query}\t{doc}\t{5 - int(code)}")
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    (out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
    (out / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (out / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(q + "\n" for q in qrels), encoding="utf-8"
    )
    return len(documents), len(queries), len(qrels)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cranfield", description=__doc__)
    parser.add_argument("source", type=Path, help="folder with cran.all.1400, cran.qry and cranqrel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    documents, queries, judgments = convert(args.source, args.out)
    print(f"{args.out}: {documents:,} documents, {queries} queries, {judgments:,} judgments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
