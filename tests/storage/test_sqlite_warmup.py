"""The SQLite store's warm-up: after a start, the vectors of the users written to most recently
are in memory before anyone searches, within ``database.vector_warmup_rows``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from asgi_lifespan import LifespanManager

from memfuse_server.api import create_app
from memfuse_server.buffer import RoundBuffer
from memfuse_server.config import load_settings
from memfuse_server.storage import SqlStore, open_store
from memfuse_server.storage.sqlite.dialect import SqliteDialect
from memfuse_server.storage.sqlite.runner import SqliteRunner
from memfuse_server.storage.sqlite.vectors import VectorIndex
from tests.storage.test_store_contract import new_session, prepared


def unit(n: int) -> np.ndarray:
    v = np.random.default_rng(n).standard_normal((n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def sqlite_store(path: Path, warmup_rows: int) -> SqlStore:
    env = {
        "MEMFUSE_DATABASE__URL": f"sqlite:///{path}",
        "MEMFUSE_DATABASE__VECTOR_WARMUP_ROWS": str(warmup_rows),
    }
    return open_store(load_settings(environ=env))


def index(store: SqlStore) -> VectorIndex:
    assert isinstance(store.index, VectorIndex)
    return store.index


async def fill(path: Path) -> dict[str, str]:
    """Three users, written in this order: old (4 rows), big (6), recent (3)."""
    store = sqlite_store(path, 0)
    await store.open()
    users = {}
    try:
        for name, n in (("old", 4), ("big", 6), ("recent", 3)):
            session = await new_session(store, name)
            texts = [prepared(f"{name} {i}") for i in range(n)]
            await store.add_messages(session, texts, unit(n), RoundBuffer())
            users[name] = session.user_id
    finally:
        await store.close()
    return users


async def loaded_after_warm_up(
    path: Path, warmup_rows: int, users: dict[str, str]
) -> dict[str, int]:
    store = sqlite_store(path, warmup_rows)
    await store.open()
    try:
        await store.warm_up()
        return {name: index(store).rows_in_memory(uid) for name, uid in users.items()}
    finally:
        await store.close()


async def test_the_most_recently_written_users_are_loaded_within_the_budget(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.db"
    users = await fill(path)
    full = await loaded_after_warm_up(path, 10_000, users)  # messages and any episode rows
    assert full["big"] > full["old"] >= 4 and full["recent"] >= 3
    # recent fits, then big does not (more than what is left), then old still does
    budget = full["recent"] + full["old"]
    assert await loaded_after_warm_up(path, budget, users) == {**full, "big": 0}
    assert await loaded_after_warm_up(path, 0, users) == {"old": 0, "big": 0, "recent": 0}


async def test_the_server_warms_up_at_startup_without_waiting_for_it(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    users = await fill(path)
    overrides = {
        "database": {"url": f"sqlite:///{path}"},
        "embedding": {"isolation": "thread"},
        "worker": {"enabled": False},
    }
    app = create_app(load_settings(None, {}, overrides))
    async with LifespanManager(app, startup_timeout=120):
        store = app.state.service.store
        for _ in range(200):
            if all(index(store).rows_in_memory(uid) for uid in users.values()):
                break
            await asyncio.sleep(0.05)
        assert all(index(store).rows_in_memory(uid) for uid in users.values())


async def test_the_most_recent_users_are_the_last_to_leave_the_cache(tmp_path: Path) -> None:
    """Warmed users enter the least-recently-searched order oldest first, so when a new user
    needs room it is the least recently written one that leaves."""
    path = tmp_path / "m.db"
    users = await fill(path)
    full = await loaded_after_warm_up(path, 10_000, users)
    cap = sum(full.values())
    vectors = VectorIndex(384, max_rows=cap, warmup_rows=cap)
    store = SqlStore(SqliteRunner(path, SqliteDialect(vectors)), vectors)
    await store.open()
    try:
        await store.warm_up()
        newcomer = await new_session(store, "newcomer")
        await store.add_messages(newcomer, [prepared("hi")], unit(1), RoundBuffer())
        await store.search_vectors(newcomer.user_id, unit(1)[0], 5)
        left = {name: index(store).rows_in_memory(uid) for name, uid in users.items()}
    finally:
        await store.close()
    assert left == {**full, "old": 0}
