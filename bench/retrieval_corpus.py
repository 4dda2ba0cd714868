"""The retrieval benchmark's vectors: SciFact's chunks and queries embedded once, then grown with noise.

Embedding the corpus with the local model takes minutes on a small machine, so the real vectors are
cached in one .npz file (under data/, which git ignores) keyed by the corpus and the chunking.
Sizes beyond the real corpus are filled with chunks whose vectors lie between a real chunk and one
of its nearest real neighbours, plus gaussian noise: the collection keeps the real data's topics and
density instead of the uniform spread of random vectors.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rag.evaluation.beir import load_beir
from rag.parsing.document import Section
from rag.providers.local_embedder import LocalEmbedder
from rag.text.chunking import chunk_sections

Vectors = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
CHUNK_TOKENS = 200  # the local model's defaults (CHUNK_TOKENS, CHUNK_OVERLAP)
CHUNK_OVERLAP = 40
BATCH = 256
NEIGHBOURS = 10


@dataclass(frozen=True)
class RealCorpus:
    texts: list[str]  # one per chunk
    vectors: Vectors  # (chunks, 384), unit length
    queries: list[str]
    query_vectors: Vectors  # (queries, 384), unit length


def load_real_corpus(folder: Path, cache_dir: Path) -> RealCorpus:
    """SciFact chunked as the evaluation harness does, with its queries, embedded by MiniLM (cached)."""
    dataset = load_beir(folder)
    texts = [
        c.text
        for d in dataset.documents
        for c in chunk_sections([Section(d.content)], max_tokens=CHUNK_TOKENS, overlap=CHUNK_OVERLAP)
    ]
    queries = [text for _, text in dataset.judged_queries()]
    key = hashlib.sha256("\x00".join([*texts, "--queries--", *queries]).encode()).hexdigest()[:16]
    cache = cache_dir / f"{dataset.name}-minilm-{key}.npz"
    if cache.is_file():
        with np.load(cache) as saved:
            return RealCorpus(texts, saved["vectors"], queries, saved["queries"])
    embedder = LocalEmbedder(batch_size=64)
    parts = []
    for start in range(0, len(texts), BATCH):
        parts.append(embedder.embed(texts[start : start + BATCH]).vectors)
        sys.stderr.write(
            f"\rembedding {dataset.name}: {min(start + BATCH, len(texts)):,}/{len(texts):,} chunks"
        )
        sys.stderr.flush()
    sys.stderr.write("\n")
    vectors = np.vstack(parts).astype(np.float32)
    query_vectors = embedder.embed(queries).vectors.astype(np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, queries=query_vectors)
    return RealCorpus(texts, vectors, queries, query_vectors)


def neighbours(real: Vectors, k: int = NEIGHBOURS) -> IntArray:
    """Each real vector's k nearest other real vectors (cosine), by brute force."""
    out = np.zeros((len(real), k), dtype=np.int64)
    for start in range(0, len(real), 2000):
        sims = real[start : start + 2000] @ real.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        out[start : start + len(sims)] = np.argpartition(-sims, k, axis=1)[:, :k]
    return out


def grown_block(
    real: Vectors, near: IntArray, start: int, stop: int, *, noise: float
) -> tuple[Vectors, IntArray]:
    """Rows [start, stop) of the grown collection and the real row each one mostly comes from.

    Rows below len(real) are the real vectors. Each later row lies between a real vector `a` and
    one of its `near` neighbours `b` (t a + (1 - t) b, t uniform), plus gaussian noise of about
    `noise` in L2 norm, renormalised: new points fill the space between related chunks, as more
    writing on the same topics would. (Plain noisy copies of a vector make tight balls of siblings
    whose neighbour lists point only at each other: HNSW then cannot walk from one ball to the
    next, and recall@10 at 1,000,000 fell to 0.35-0.5, a property of that data, not of the index.)
    Row i is the same whatever the block it is made in (its randomness is seeded with i), so the
    sizes nest: the first 10,000 rows of the 1,000,000 are the 10,000.
    """
    rows = np.arange(start, stop)
    sources = np.where(rows < len(real), rows, _source_of(rows, len(real)))
    out = real[sources].copy()
    for i in np.flatnonzero(rows >= len(real)):
        rng = np.random.default_rng(int(rows[i]))
        b = near[sources[i], rng.integers(0, near.shape[1])]
        t = rng.uniform()
        v = t * real[sources[i]] + (1 - t) * real[b]
        v /= np.linalg.norm(v)
        v += rng.normal(0.0, noise / np.sqrt(real.shape[1]), real.shape[1]).astype(np.float32)
        out[i] = v / np.linalg.norm(v)
    return out, sources.astype(np.int64)


def _source_of(rows: IntArray, real: int) -> IntArray:
    # A fixed pseudo-random map (Knuth's multiplicative hash): cheap and repeatable.
    return ((rows.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(real)).astype(np.int64)
