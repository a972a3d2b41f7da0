"""What the CLI's long-running and one-shot commands do, apart from argument parsing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog
from rich.console import Console
from rich.table import Table

from memfuse_server.background import build_background
from memfuse_server.config import ClientSettings, Settings
from memfuse_server.embeddings import build_embedder
from memfuse_server.errors import ConfigurationError, Unavailable
from memfuse_server.models import ProcessKind
from memfuse_server.storage import Store, open_store

T = TypeVar("T")
log = structlog.get_logger(__name__)


async def with_store(settings: Settings, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the configured store, run one action, close it."""
    store = open_store(settings)
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


def server_stats(
    client: ClientSettings, url: str | None, api_key: str | None
) -> dict[str, Any] | None:
    """``GET /stats`` of the server at ``url`` (or ``client.base_url``); None if none answers."""
    from memfuse_server.client import Client
    from memfuse_server.client.async_client import client_settings
    from memfuse_server.client.errors import ConnectionFailed, RequestTimeout

    settings = client_settings(client, base_url=url, api_key=api_key, timeout=5.0, max_retries=0)
    try:
        with Client(settings=settings) as http:
            return http.stats().model_dump()
    except (ConnectionFailed, RequestTimeout):
        return None


def lower_cpu_priority(niceness: int) -> int:
    """Run this process at least at ``niceness`` (never higher up than it is); the niceness
    it runs at now. On Linux each thread has its own (numpy's BLAS threads start at import),
    so every thread running is lowered; threads and child processes started later take that
    of the thread that starts them."""
    tasks = Path("/proc/self/task")
    ids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for task in ids:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            if niceness > os.getpriority(os.PRIO_PROCESS, task):
                os.setpriority(os.PRIO_PROCESS, task, niceness)
    return os.getpriority(os.PRIO_PROCESS, 0)


async def run_worker_until_signal(settings: Settings) -> None:
    """Run a standalone worker until SIGTERM or SIGINT; running jobs finish first.

    Its throttle sees no requests (they go to other processes), so it runs at
    ``worker.concurrency`` and at CPU niceness ``worker.nice`` instead: beside API
    processes on one host (always so on SQLite) the OS gives them the cores first, and on
    a host of its own it loses nothing."""
    niceness = lower_cpu_priority(settings.worker.nice)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    store = await _open_for_worker(settings)
    log.info("worker niceness", niceness=niceness)
    embedder = build_embedder(settings.embedding)
    try:
        async with build_background(settings, store, embedder, ProcessKind.WORKER).running():
            await stop.wait()
            log.info("stopping worker: letting running jobs finish")
    finally:
        await embedder.aclose()
        await store.close()


async def _open_for_worker(settings: Settings) -> Store:
    """The store, its pool sized for a worker alone; a failure is a one-line ``StartupFailed``."""
    from memfuse_server.startup import not_started

    try:
        store = open_store(settings, ProcessKind.WORKER)
        await store.open()
    except (Unavailable, ConfigurationError) as exc:
        raise not_started(settings, exc) from exc
    return store


def print_stats(view: dict[str, dict[str, Any]]) -> None:
    """One table: section, name, value (``-`` where there is none yet; nested names dotted)."""
    table = Table(title="memfuse-server stats")
    table.add_column("section")
    table.add_column("name")
    table.add_column("value", justify="right")
    for section, values in view.items():
        for name, value in _flat(values or {}):
            shown = "-" if value is None else f"{value:.1f}" if isinstance(value, float) else value
            table.add_row(section, name, str(shown))
    Console().print(table)


def _flat(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for name, value in values.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{name}.")
        else:
            rows.append((f"{prefix}{name}", value))
    return rows


__all__ = ["print_stats", "run_worker_until_signal", "server_stats", "with_store"]
