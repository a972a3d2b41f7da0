"""The store under test. Parametrised by backend so one contract serves every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from memfuse_server.config import load_settings
from memfuse_server.embeddings.base import Vectors
from memfuse_server.storage import Store, open_store


def make_store(tmp_path: Path) -> Store:
    settings = load_settings(environ={"MEMFUSE_DATABASE__URL": f"sqlite:///{tmp_path / 'm.db'}"})
    return open_store(settings)


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s = make_store(tmp_path)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def vectors() -> Callable[[int], Vectors]:
    """Unit vectors, deterministic per call order."""
    rng = np.random.default_rng(7)

    def make(n: int) -> Vectors:
        v = rng.standard_normal((n, 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return make
