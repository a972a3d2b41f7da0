"""``memfuse-server migrate`` and start-up migrations on PostgreSQL: concurrent, idempotent."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import pytest

from memfuse_server.config import load_settings
from memfuse_server.errors import ConfigurationError
from memfuse_server.storage import open_store
from memfuse_server.storage.postgres.migrate import migrations
from tests.pg import PostgresForTests, run_sync


def _migrate(url: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUSE_")}
    env["MEMFUSE_DATABASE__URL"] = url
    return subprocess.Popen(
        [sys.executable, "-m", "memfuse_server", "migrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _drop_schema(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


def test_processes_migrating_at_once_take_turns(postgres: PostgresForTests) -> None:
    url = postgres.create_database()
    run_sync(lambda: _drop_schema(url))  # an empty database, as a new deployment has
    runs = [_migrate(url) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in runs]
    latest = migrations()[-1][0]
    assert all(p.returncode == 0 for p in runs), outputs
    assert all(f"database schema at version {latest}" in out for out in outputs), outputs


async def test_a_database_of_another_dimension_is_refused(postgres: PostgresForTests) -> None:
    url = postgres.create_database()
    env = {"MEMFUSE_DATABASE__URL": url, "MEMFUSE_EMBEDDING__DIMENSION": "768"}
    store = open_store(load_settings(environ=env))
    with pytest.raises(ConfigurationError, match="768"):
        await store.open()
