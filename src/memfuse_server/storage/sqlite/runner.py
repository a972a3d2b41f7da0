"""The SQLite runner: the one place blocking SQLite calls run.

One writer connection on one dedicated thread (SQLite has a single writer;
queuing writes in-process avoids busy-waiting on the file lock) and a few
reader connections on their own threads (WAL lets them read while the writer
writes). Every call runs off the event loop. A write is one transaction,
``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception, and the whole
of it runs on the writer thread: the operation's coroutine is driven there to
its end (``tx.drive``), so no transaction ever waits on the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import ParamSpec, TypeVar

from memfuse_server.errors import ConfigurationError, Unavailable
from memfuse_server.storage.base import PoolStats
from memfuse_server.storage.sqlite.tx import SqliteTx, drive
from memfuse_server.storage.tx import Dialect, IndexChanges, Op

T = TypeVar("T")
P = ParamSpec("P")

_TRANSIENT = ("locked", "busy", "disk", "unable to open", "readonly", "full", "i/o")


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite:///path`` URL names."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigurationError(f"Not a SQLite URL: {url!r}; use sqlite:///path/to/file.db")
    return Path(url[len(prefix) :])


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("memfuse_server.storage.sqlite") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every numbered migration newer than the file's ``user_version``."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for number, script in _migrations():
        if number > current:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
            current = number
    return current


class SqliteRunner:
    """Connections to one SQLite file, and the threads that use them."""

    def __init__(
        self,
        path: Path,
        dialect: Dialect,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 5000,
        readers: int = 2,
    ) -> None:
        self.path = path
        self.dialect = dialect
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._capacity = 1 + readers
        self._submitted = self._running = self._waits = 0

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout_ms / 1000,
            cached_statements=512,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        with self._lock:
            self._connections.append(conn)
        return conn

    def _thread_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    async def open(self) -> int:
        """Create the file if needed and bring its schema up to date."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return await self._run(self._writer_pool, lambda: migrate(self._thread_connection()))

    async def write(self, op: Op[P, T], *args: P.args, **kw: P.kwargs) -> tuple[T, IndexChanges]:
        """Run ``op(tx, ...)`` as one write transaction on the writer thread."""

        def transaction() -> tuple[T, IndexChanges]:
            conn = self._thread_connection()
            tx = SqliteTx(conn, self.dialect)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = drive(op(tx, *args, **kw))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result, tx.changes

        return await self._run(self._writer_pool, transaction)

    async def read(self, op: Op[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """Run ``op(tx, ...)`` on a reader thread (a consistent snapshot)."""

        def snapshot() -> T:
            conn = self._thread_connection()
            conn.execute("BEGIN")
            try:
                return drive(op(SqliteTx(conn, self.dialect), *args, **kw))
            finally:
                conn.execute("COMMIT")

        return await self._run(self._reader_pool, snapshot)

    def pool_stats(self) -> PoolStats:
        """Connections (threads) in use, calls waiting for one, waits so far."""
        with self._lock:
            running, waiting = self._running, self._submitted - self._running
            return PoolStats(running, max(waiting, 0), self._waits)

    def _counted(self, call: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            with self._lock:
                self._running += 1
            try:
                return call()
            finally:
                with self._lock:
                    self._running -= 1
                    self._submitted -= 1

        return run

    async def _run(self, pool: ThreadPoolExecutor, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._submitted += 1
            self._waits += self._submitted > self._capacity
        try:
            return await loop.run_in_executor(pool, self._counted(call))
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if any(word in text for word in _TRANSIENT):
                raise Unavailable(
                    f"The database cannot serve the request right now ({exc}); retry shortly."
                ) from exc
            raise

    async def close(self) -> None:
        """Finish queued work, then close every connection."""
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


__all__ = ["SqliteRunner", "migrate", "sqlite_path"]
