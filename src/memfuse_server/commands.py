"""What the CLI's long-running and one-shot commands do, apart from argument parsing."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from rich.console import Console
from rich.table import Table

from memfuse_server.background import build_background
from memfuse_server.config import Settings
from memfuse_server.embeddings import build_embedder
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


async def run_worker_until_signal(settings: Settings) -> None:
    """Run a standalone worker until SIGTERM or SIGINT; running jobs finish first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    store = open_store(settings)
    await store.open()
    embedder = build_embedder(settings.embedding)
    try:
        async with build_background(settings, store, embedder).running():
            await stop.wait()
            log.info("stopping worker: letting running jobs finish")
    finally:
        await embedder.aclose()
        await store.close()


def print_stats(view: dict[str, dict[str, Any]]) -> None:
    """One table: section, name, value (``-`` where there is none yet)."""
    table = Table(title="memfuse-server stats (background queue)")
    table.add_column("section")
    table.add_column("name")
    table.add_column("value", justify="right")
    for section, values in view.items():
        for name, value in values.items():
            shown = "-" if value is None else f"{value:.1f}" if isinstance(value, float) else value
            table.add_row(section, name, str(shown))
    Console().print(table)


__all__ = ["print_stats", "run_worker_until_signal", "with_store"]
