"""Evaluation: knowledge managers measure how well retrieval finds the right documents."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from rag.errors import ConsoleError
from rag.evaluation import EvaluationReport, evaluate, load_golden_set
from rag.library import list_documents
from rag.text import escape_markdown
from ui.auth import require_page
from ui.console import get_console
from ui.downloads import csv_download
from ui.tables import Column, Columns, download_frame, show_table

SAMPLE_QUESTIONS = Path(__file__).resolve().parent.parent / "samples" / "questions.json"
SCORE_COLUMNS: Columns = {
    "Mode": "Mode",
    "nDCG@10": Column("nDCG@10", "number", decimals=3),
    "Recall@10": Column("Recall@10", "number", decimals=3),
    "MRR@10": Column("MRR@10", "number", decimals=3),
    "Recall@100": Column("Recall@100", "number", decimals=3),
    "Median time": Column("Median time", "duration_ms", help="Retrieval time per question"),
    "95th percentile time": Column("95th percentile time", "duration_ms"),
    "Questions": Column("Questions", "count"),
}
MODES = {"hybrid": "Hybrid (default)", "dense": "Vectors only", "keyword": "Keywords only"}


def _mode_progress(bar: DeltaGenerator, step: int, steps: int, label: str) -> Callable[[int, int], None]:
    """Moves the shared progress bar through mode `step` of `steps` as its questions are scored."""

    def report(done: int, total: int) -> None:
        bar.progress((step + done / total) / steps, text=f"{label}: {done}/{total}")

    return report


account = require_page(__file__)  # before drawing anything
console = get_console()
st.title("Evaluate retrieval")
st.write(
    "Upload a golden set: questions with the documents that should answer them. Each question runs "
    "through the same retrieval the chat uses, and the scores say how often the right document comes "
    "first (MRR@10), is in the top 10 (recall@10) and how well the top 10 is ordered (nDCG@10)."
)
example = pd.DataFrame(
    [
        {"question": q["question"], "document": q["document"]}
        for q in json.loads(SAMPLE_QUESTIONS.read_text())
        if q["document"]
    ]
)
csv_download(example, "golden-set", label="Example golden set for the sample library (CSV)")

library = list_documents(console.engine, console.kb)
if not library:
    st.info("The library is empty: upload documents first, then a golden set that names them.")
    st.stop()

upload = st.file_uploader(
    "Golden set (CSV with 'question' and 'document' columns, or JSON)", type=["csv", "json"]
)
modes = st.multiselect(
    "Retrieval modes to compare", list(MODES), default=list(MODES), format_func=MODES.__getitem__
)
if (
    upload is not None
    and modes
    and st.button("Run the evaluation", type="primary", icon=":material/play_arrow:")
):
    try:
        golden = load_golden_set(upload.name, upload.getvalue(), library)
        bar = st.progress(0.0, text="Evaluating")
        reports: list[EvaluationReport] = []
        for i, mode in enumerate(modes):
            reports.append(
                evaluate(
                    console,
                    golden,
                    mode,
                    progress=_mode_progress(bar, i, len(modes), MODES[mode]),
                )
            )
        bar.empty()
        st.session_state["evaluation"] = reports
    except ConsoleError as exc:
        st.error(escape_markdown(str(exc)))  # it may quote the uploaded file

reports = st.session_state.get("evaluation", [])
if reports:
    table = pd.DataFrame(
        [
            {
                "Mode": MODES.get(r.mode, r.mode),
                "nDCG@10": r.ndcg_at_10,
                "Recall@10": r.recall_at_10,
                "MRR@10": r.mrr_at_10,
                "Recall@100": r.recall_at_100,
                "Median time": r.latency_p50_ms,
                "95th percentile time": r.latency_p95_ms,
                "Questions": r.queries,
            }
            for r in reports
        ]
    )
    st.subheader(f"Scores over {reports[0].queries} questions")
    st.bar_chart(table.set_index("Mode")[["nDCG@10", "Recall@10", "MRR@10"]], stack=False)
    show_table(table, SCORE_COLUMNS)
    csv_download(download_frame(table, SCORE_COLUMNS), "evaluation", label="Download scores (CSV)")
