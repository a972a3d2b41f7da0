"""Fixtures: the client against the app in-process, against a real server, and a loopback server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from memfuse_server.api import create_app
from memfuse_server.client import AsyncClient
from memfuse_server.config import load_settings
from tests.client.loopback import LoopbackServer
from tests.serverproc import ServerProcess


@contextlib.asynccontextmanager
async def in_process_client(data_dir: Path) -> AsyncIterator[AsyncClient]:
    """An ``AsyncClient`` calling the app in this process (its lifespan run), over SQLite."""
    overrides = {
        "database": {"url": f"sqlite:///{data_dir / 'memfuse.db'}"},
        "embedding": {"isolation": "thread"},
        "worker": {"enabled": False},
    }
    app = create_app(load_settings(None, {}, overrides))
    async with LifespanManager(app, startup_timeout=120) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with AsyncClient("http://in-process", transport=transport) as client:
            yield client


@pytest.fixture(params=["in-process", "http"])
async def aclient(
    request: pytest.FixtureRequest, tmp_path: Path, server: ServerProcess
) -> AsyncIterator[AsyncClient]:
    """The async client, once against the app in-process and once over real HTTP."""
    if request.param == "http":
        async with AsyncClient(server.base_url) as client:
            yield client
    else:
        async with in_process_client(tmp_path) as client:
            yield client


@pytest.fixture
async def http_client(server: ServerProcess) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server.base_url) as client:
        yield client


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """A MemFuse-shaped loopback server (latency 0; set ``.state.latency`` to change it)."""
    with LoopbackServer() as server:
        yield server
