"""``memfuse-server serve`` from start to stop: checks that fail in one line, then the server.

What a first run can get wrong is checked before anything slow, each failure a
``StartupFailed`` with a sentence saying what to do and an exit status of its own:

====  ===================================================================
2     the settings are invalid (an unknown key, a bad value)
3     the address cannot be listened on (the port is taken, an unknown host)
4     the data folder cannot be written
5     the database cannot be reached
6     ``database.url`` is malformed (a bad port, no host)
7     the embedding model is not installed
1     anything else (the log says what)
====  ===================================================================

The port is bound here, before the model loads, and handed to uvicorn. Ctrl-C and
SIGTERM stop the server gracefully (in-flight requests finish) and exit 0, quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from enum import IntEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.types import ASGIApp

from memfuse_server import __version__
from memfuse_server.config import Settings, mask_url
from memfuse_server.errors import ConfigurationError, StartupFailed, Unavailable
from memfuse_server.service import MemoryService


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    SETTINGS = 2
    ADDRESS = 3
    DATA_FOLDER = 4
    DATABASE_DOWN = 5
    DATABASE_URL = 6
    MODEL = 7


SQLITE_PREFIX = "sqlite:///"


def sqlite_file(url: str) -> Path | None:
    """The absolute path of the SQLite file ``url`` names (None for PostgreSQL)."""
    return Path(url[len(SQLITE_PREFIX) :]).resolve() if url.startswith(SQLITE_PREFIX) else None


def check_database_url(url: str) -> None:
    """A PostgreSQL URL must parse: a host, and a port that is a number."""
    if sqlite_file(url) is not None:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        raise _bad_url(url, str(exc)) from exc
    if not parts.hostname:
        raise _bad_url(url, "it names no host")


def _bad_url(url: str, reason: str) -> StartupFailed:
    return StartupFailed(
        f"database.url {mask_url(url)} is malformed ({reason}); write it as"
        " postgresql://user:password@host:5432/database.",
        Exit.DATABASE_URL,
    )


def check_data_folder(url: str) -> None:
    """The SQLite file's folder exists (or is made) and can be written."""
    path = sqlite_file(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
        if path.exists():
            with path.open("r+b"):
                pass
    except OSError as exc:
        raise StartupFailed(
            f"The data folder {path.parent} is not writable ({exc.strerror}); run from a folder"
            " you can write to, or set database.url to sqlite:////a/writable/folder/memfuse.db.",
            Exit.DATA_FOLDER,
        ) from exc


def check_model(settings: Settings) -> None:
    """The local model's files are installed (a remote embedder still counts tokens with them)."""
    from memfuse_server.embeddings.local import resolve_model_path

    try:
        resolve_model_path(settings.embedding.model_path)
    except ConfigurationError as exc:
        raise StartupFailed(exc.message, Exit.MODEL) from exc


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, before anything slow happens."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupFailed(_bind_problem(host, port, exc), Exit.ADDRESS) from exc
    sock.set_inheritable(True)
    return sock


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"Port {port} on {host} is already in use (another memfuse-server?); stop that"
            " process or pick another port with --port N (server.port)."
        )
    reason = exc.strerror or str(exc)
    return f"Cannot listen on {host}:{port} ({reason}); check --host and --port (server.host, server.port)."


def public_urls(settings: Settings) -> dict[str, str]:
    """Where the server, its memory browser, its API docs and its MCP endpoint are."""
    host = settings.server.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{settings.server.port}"
    return {
        "listening on": base,
        "memory browser": f"{base}/ui",
        "API docs": f"{base}/api/v1/docs",
        "MCP": f"{base}/mcp",
    }


def banner(settings: Settings) -> str:
    urls = public_urls(settings)
    path = sqlite_file(settings.database.url)
    data = str(path) if path is not None else mask_url(settings.database.url)
    rows = [("listening on", urls["listening on"]), ("data", data)]
    rows += [(name, url) for name, url in urls.items() if name != "listening on"]
    lines = [f"memfuse-server {__version__}"]
    lines += [f"  {name + ':':<16}{value}" for name, value in rows]
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


class _Server(uvicorn.Server):
    """uvicorn's server, saying where it is once it is up, with a signal's stop a clean exit.

    uvicorn raises the signal again after its graceful shutdown (so a plain
    process dies of it); here the stop was the point, and the exit status is 0.
    """

    def __init__(self, config: uvicorn.Config, announcement: str) -> None:
        super().__init__(config)
        self.announcement = announcement

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.announcement, file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[MemoryService]:
    """The running service; a database or model that fails to open is a ``StartupFailed``."""
    from memfuse_server.api.app import running_service

    async with contextlib.AsyncExitStack() as stack:
        try:
            service = await stack.enter_async_context(running_service(settings))
        except (Unavailable, ConfigurationError) as exc:
            raise not_started(settings, exc) from exc
        yield service


def not_started(settings: Settings, exc: Unavailable | ConfigurationError) -> StartupFailed:
    """Why a store (or what it needs) did not open, as a ``StartupFailed``."""
    if isinstance(exc, Unavailable):
        return _database_down(settings, exc)
    return StartupFailed(exc.message, Exit.SETTINGS)


def check_worker(settings: Settings) -> None:
    """What ``memfuse-server worker`` can get wrong before it opens anything."""
    check_database_url(settings.database.url)
    check_data_folder(settings.database.url)
    check_model(settings)


def _database_down(settings: Settings, exc: Unavailable) -> StartupFailed:
    cause = exc.__cause__
    reason = f"{type(cause).__name__}: {cause}" if cause is not None else exc.message
    return StartupFailed(
        f"Cannot reach the database at {mask_url(settings.database.url)} ({reason}); start"
        " PostgreSQL or fix database.url, then start the server again.",
        Exit.DATABASE_DOWN,
    )


async def _serve(settings: Settings, sock: socket.socket) -> None:
    from memfuse_server.api import create_app

    async with _opened(settings) as service:
        server = _Server(_uvicorn_config(settings, create_app(settings, service)), banner(settings))
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn's word for "the app's startup failed"
            raise StartupFailed("The server failed to start; the log above says why.", 1) from exc


def _uvicorn_config(settings: Settings, app: ASGIApp) -> uvicorn.Config:
    server = settings.server
    return uvicorn.Config(
        app=app,
        host=server.host,
        port=server.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(server.graceful_timeout_seconds) or None,
        timeout_keep_alive=server.keepalive_seconds,
        server_header=False,
    )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (as uvicorn would pick), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(settings: Settings) -> None:
    """Check, open, serve until Ctrl-C or SIGTERM (``StartupFailed`` when it cannot start)."""
    check_database_url(settings.database.url)
    sock = listen(settings.server.host, settings.server.port)
    try:
        check_data_folder(settings.database.url)
        check_model(settings)
        run_until_stopped(_serve(settings, sock))  # uvicorn takes the signals while it serves
    finally:
        sock.close()


def run_until_stopped(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` to its end, or until Ctrl-C or SIGTERM stops it: quietly, closing what it
    opened (its ``async with`` blocks run as it is cancelled), with exit status 0."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _interrupt)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main)
    except KeyboardInterrupt:
        pass


__all__ = [
    "Exit",
    "banner",
    "check_data_folder",
    "check_database_url",
    "check_worker",
    "listen",
    "not_started",
    "run_until_stopped",
    "serve",
]
