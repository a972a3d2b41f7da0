"""The exact vector search of the SQLite store: the k best rows, best first, never a removed one."""

from __future__ import annotations

import numpy as np

from memfuse_server.storage.sqlite.vectors import _KindMatrix


def matrix(n: int, seed: int = 0) -> tuple[_KindMatrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n, 16)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    m = _KindMatrix(16)
    m.extend(np.arange(n, dtype=np.int64), [f"id{i}" for i in range(n)], rows)
    return m, rows


def test_the_top_rows_are_the_exact_best_in_order() -> None:
    m, rows = matrix(500)
    query = rows[3]
    found = m.top(query, 10)
    expected = np.argsort(-(rows @ query))[:10]
    assert [i for i, _ in found] == [f"id{i}" for i in expected]
    np.testing.assert_allclose([s for _, s in found], (rows @ query)[expected], rtol=1e-6)
    assert found[0] == ("id3", found[0][1]) and abs(found[0][1] - 1.0) < 1e-5


def test_removed_rows_are_skipped_and_k_is_capped_by_the_live_rows() -> None:
    m, rows = matrix(6)
    m.remove({0, 2})
    found = m.top(rows[0], 10)
    assert sorted(i for i, _ in found) == ["id1", "id3", "id4", "id5"]
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


def test_an_empty_or_all_removed_matrix_finds_nothing() -> None:
    assert _KindMatrix(16).top(np.ones(16, dtype=np.float32), 5) == []
    m, rows = matrix(3)
    m.remove({0, 1, 2})
    assert m.top(rows[0], 5) == []
