"""Partitioned vector search finds what exact search finds, honours removals and new rows."""

from __future__ import annotations

import numpy as np

from memfuse_server.embeddings.base import Vectors
from memfuse_server.storage.sqlite.vectors import _KindMatrix

PARTITION_FROM = 20_000


def clustered(n: int, seed: int) -> Vectors:
    """Unit vectors in 300 clusters, like sentence embeddings of varied topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((300, 384)).astype(np.float32)
    x = centres[rng.integers(300, size=n)] + 0.35 * rng.standard_normal((n, 384)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def matrix(vectors: Vectors) -> _KindMatrix:
    m = _KindMatrix(384, partition_from=PARTITION_FROM)
    seqs = np.arange(1, len(vectors) + 1, dtype=np.int64)
    m.extend(seqs, [f"id{s}" for s in seqs], vectors)
    return m


def exact(vectors: Vectors, query: Vectors, k: int) -> list[str]:
    return [f"id{i + 1}" for i in np.argsort(-(vectors @ query))[:k]]


def test_recall_at_10_against_exact_search() -> None:
    vectors = clustered(PARTITION_FROM + 10_000, seed=1)
    m = matrix(vectors)
    queries = clustered(50, seed=2)
    recall = np.mean(
        [len({i for i, _ in m.top(q, 10)} & set(exact(vectors, q, 10))) / 10 for q in queries]
    )
    assert m.partitions is not None
    assert recall >= 0.9, recall  # exact scores, a quarter of the lists scanned


def test_scores_are_exact_and_removed_rows_never_come_back() -> None:
    vectors = clustered(PARTITION_FROM + 1000, seed=3)
    m = matrix(vectors)
    query = vectors[123]
    top = m.top(query, 5)
    assert top[0] == ("id124", top[0][1]) and abs(top[0][1] - 1.0) < 1e-5
    m.remove({124})
    assert "id124" not in {i for i, _ in m.top(query, 5)}


def test_rows_added_after_partitioning_are_searched() -> None:
    vectors = clustered(PARTITION_FROM + 1000, seed=4)
    m = matrix(vectors)
    m.top(vectors[0], 1)  # builds the partitions
    fresh = clustered(1, seed=5)
    m.extend(np.array([10**9], dtype=np.int64), ["fresh"], fresh)
    assert m.top(fresh[0], 1)[0][0] == "fresh"
