"""The catalog of question variants: their embeddings, answers and the passages each can cite."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.models import Chunk, Document
from rag.answer.not_known import NOT_KNOWN
from rag.console import Console
from rag.demo.copy_text import NULL, Bools, Floats, Ints, esc
from rag.demo.templates import DEMO_TITLE_PREFIX, TEMPLATES, Template
from rag.errors import ModelError
from rag.providers.embedder import Embedder
from rag.retrieval.search import format_location
from rag.text.tokens import count_tokens

CANDIDATES = 8  # passages a question variant can cite, best first
SNIPPET_CHARS = 300
CHUNK_POOL = 5_000


@dataclass(frozen=True)
class Catalog:
    """What a simulated question can be: templates, their variants and the passages each cites."""

    weights: Floats
    answerable: Bools
    topic_members: Ints  # per template: its topic's templates, padded
    topic_sizes: Ints
    first_variant: Ints
    variant_counts: Ints
    variant_tokens: Ints
    questions: list[str]  # per variant, COPY-escaped
    titles: list[str]  # per variant, the conversation title it opens, COPY-escaped
    answers: list[list[str]]  # per template, the answer citing 1, 2 or 3 sources, COPY-escaped
    sources: list[list[str]]  # per variant, best first: chunk, document, title, location, snippet
    documents: list[int]  # real document ids, for the ingestion calls


def _variants() -> list[str]:
    return [v for t in TEMPLATES for v in t.variants]


def embed_variants(embedder: Embedder) -> npt.NDArray[np.float32] | None:
    """One vector per question variant, stored with every use of it so that grouping finds them."""
    try:
        return embedder.embed(_variants()).vectors
    except ModelError:
        return None  # question_embedding stays NULL


def build_catalog(
    conn: Connection, console: Console, vectors: npt.NDArray[np.float32] | None, rng: np.random.Generator
) -> Catalog:
    topics = sorted({t.topic for t in TEMPLATES})
    members = [[i for i, t in enumerate(TEMPLATES) if t.topic == topic] for topic in topics]
    width = max(len(m) for m in members)
    padded = np.array([m + [m[0]] * (width - len(m)) for m in members], dtype=np.int64)
    topic_of = np.array([topics.index(t.topic) for t in TEMPLATES])
    counts = np.array([len(t.variants) for t in TEMPLATES], dtype=np.int64)
    variants = _variants()
    template_of = np.repeat(np.arange(len(TEMPLATES)), counts)
    sources, documents = _source_candidates(conn, console, vectors, template_of, rng)
    return Catalog(
        weights=np.array([t.weight for t in TEMPLATES]) / sum(t.weight for t in TEMPLATES),
        answerable=np.array([t.answer is not None for t in TEMPLATES]),
        topic_members=padded[topic_of],
        topic_sizes=np.array([len(m) for m in members], dtype=np.int64)[topic_of],
        first_variant=np.cumsum(counts) - counts,
        variant_counts=counts,
        variant_tokens=np.array([count_tokens(v) for v in variants], dtype=np.int64),
        questions=[esc(v) for v in variants],
        titles=[esc(DEMO_TITLE_PREFIX + v[:110]) for v in variants],
        answers=[
            [esc(f"{t.answer or NOT_KNOWN} " + "".join(f"[{k}]" for k in range(1, c + 1))) for c in (1, 2, 3)]
            for t in TEMPLATES
        ],
        sources=sources,
        documents=documents,
    )


def _source_candidates(
    conn: Connection,
    console: Console,
    vectors: npt.NDArray[np.float32] | None,
    template_of: Ints,
    rng: np.random.Generator,
) -> tuple[list[list[str]], list[int]]:
    """Per variant, the passages it retrieves: the knowledge base's nearest chunks if it has any."""
    rows = conn.execute(
        sa.select(
            Chunk.id,
            Chunk.document_id,
            Document.title,
            Chunk.page_start,
            Chunk.page_end,
            Chunk.heading,
            sa.func.left(Chunk.text, SNIPPET_CHARS).label("snippet"),
            Chunk.embedding,
        )
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.knowledge_base_id == console.kb.id)
        .order_by(Chunk.id)
        .limit(CHUNK_POOL)
    ).all()
    if not rows:
        return [_fabricated(TEMPLATES[t], rng) for t in template_of.tolist()], []
    fields = [
        "\t".join(
            (
                str(r.id),
                str(r.document_id),
                esc(r.title),
                esc(format_location(r.page_start, r.page_end, None if r.heading == r.title else r.heading)),
                esc(r.snippet),
            )
        )
        for r in rows
    ]
    if vectors is not None and len(rows[0].embedding) == vectors.shape[1]:
        similarity = vectors @ np.array([r.embedding for r in rows], dtype=np.float32).T
        ranked = np.argsort(-similarity, axis=1)
    else:
        ranked = np.array([rng.permutation(len(rows)) for _ in TEMPLATES])[template_of]
    picks = ranked[:, :CANDIDATES].tolist()
    return [[fields[i] for i in p] for p in picks], sorted({r.document_id for r in rows})


def _fabricated(template: Template, rng: np.random.Generator) -> list[str]:
    others = sorted({t.document for t in TEMPLATES} - {template.document})
    snippet = esc(template.answer or f"See the {template.document.lower()} for details.")
    out = []
    for rank in range(CANDIDATES):
        title = template.document if rank < 3 else others[int(rng.integers(len(others)))]
        out.append(f"{NULL}\t{NULL}\t{esc(title)}\tsection {int(rng.integers(1, 9))}\t{snippet}")
    return out
