"""The store under test. Parametrised by backend so one contract serves every backend:
the embedded SQLite file and PostgreSQL + pgvector (a fresh database per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from memfuse_server.config import Settings, load_settings
from memfuse_server.embeddings.base import Vectors
from memfuse_server.storage import Store, open_store
from tests.pg import PostgresForTests


def postgres_settings(url: str, **database: str) -> Settings:
    env = {
        "MEMFUSE_DATABASE__URL": url,
        "MEMFUSE_DATABASE__POOL_SIZE": "2",
        "MEMFUSE_DATABASE__MAX_OVERFLOW": "18",
    }
    env.update({f"MEMFUSE_DATABASE__{k.upper()}": v for k, v in database.items()})
    return load_settings(environ=env)


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The settings of the store under test (each test gets an empty database)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
        return load_settings(environ={"MEMFUSE_DATABASE__URL": url})
    pg: PostgresForTests = request.getfixturevalue("postgres")
    return postgres_settings(pg.create_database())


@pytest.fixture
async def store(store_settings: Settings) -> AsyncIterator[Store]:
    s = open_store(store_settings)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def reopen(store_settings: Settings) -> Callable[[], Store]:
    """Another store over the same database, as another process would open it."""
    return lambda: open_store(store_settings)


@pytest.fixture
def vectors() -> Callable[[int], Vectors]:
    """Unit vectors, deterministic per call order."""
    rng = np.random.default_rng(7)

    def make(n: int) -> Vectors:
        v = rng.standard_normal((n, 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return make
