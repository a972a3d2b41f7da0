"""The SQLite runner: the one place blocking SQLite calls run.

One writer connection on one dedicated thread (SQLite has a single writer;
queuing writes in-process avoids busy-waiting on the file lock; the requests'
writes go before the background's, ``writer.py``) and a few
reader connections on their own threads (WAL lets them read while the writer
writes). Every call runs off the event loop. A write is one transaction,
``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception, and the whole
of it runs on the writer thread: the operation's coroutine is driven there to
its end (``tx.drive``), so no transaction ever waits on the event loop.

When the file cannot be written (read-only, a full disk, an I/O error), a call answers
``Unavailable`` (503) and the connection that failed is let go: SQLite keeps a connection
it opened read-only read-only for good, so the next call opens a fresh one, and writes work
again within a call once the file can be written.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import ParamSpec, TypeVar

from memfuse_server.errors import ConfigurationError, Unavailable
from memfuse_server.storage.base import PoolStats
from memfuse_server.storage.sqlite.slots import FileSlots
from memfuse_server.storage.sqlite.tx import SqliteTx, drive
from memfuse_server.storage.sqlite.writer import PriorityWriter
from memfuse_server.storage.tx import Dialect, IndexChanges, Op

T = TypeVar("T")
P = ParamSpec("P")

_BUSY = ("locked", "busy")  # another process holds the file: a retry soon may pass
_UNWRITABLE = ("disk", "unable to open", "readonly", "full", "i/o")  # an operator must act
UNWRITABLE_RETRY_SECONDS = 5.0  # Retry-After then: a client retrying every second adds load


def _unwritable(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc).lower() for word in _UNWRITABLE
    )


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
        self._writer = PriorityWriter("sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._capacity = 1 + readers
        self._slots = FileSlots(path)
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

    def _let_go(self, conn: sqlite3.Connection) -> None:
        """Close this thread's connection; its next call opens a fresh one."""
        self._local.conn = None
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        """``begin`` ... COMMIT on this thread's connection, rolled back on any exception;
        a connection that failed because the file cannot be written is let go."""
        conn = self._thread_connection()
        try:
            conn.execute(begin)
            try:
                yield conn
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:  # an error, or a COMMIT that failed
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if _unwritable(exc):
                self._let_go(conn)
            raise

    async def open(self) -> int:
        """Create the file if needed and bring its schema up to date."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return await self._run(self._writer.submit, lambda: migrate(self._thread_connection()))

    async def write(self, op: Op[P, T], *args: P.args, **kw: P.kwargs) -> tuple[T, IndexChanges]:
        """Run ``op(tx, ...)`` as one write transaction on the writer thread."""
        return await self._write(False, op, *args, **kw)

    async def write_background(
        self, op: Op[P, T], *args: P.args, **kw: P.kwargs
    ) -> tuple[T, IndexChanges]:
        """``write``, after the requests' writes that wait (``writer.py``)."""
        return await self._write(True, op, *args, **kw)

    async def _write(
        self, background: bool, op: Op[P, T], *args: P.args, **kw: P.kwargs
    ) -> tuple[T, IndexChanges]:
        def transaction() -> tuple[T, IndexChanges]:
            with self._transaction("BEGIN IMMEDIATE") as conn:
                tx = SqliteTx(conn, self.dialect)
                result = drive(op(tx, *args, **kw))
            return result, tx.changes

        return await self._run(
            lambda call: self._writer.submit(call, background=background), transaction
        )

    async def read(self, op: Op[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """Run ``op(tx, ...)`` on a reader thread (a consistent snapshot)."""

        def snapshot() -> T:
            with self._transaction("BEGIN") as conn:
                return drive(op(SqliteTx(conn, self.dialect), *args, **kw))

        return await self._run(self._reader_pool.submit, snapshot)

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

    async def _run(
        self, submit: Callable[[Callable[[], T]], Future[T]], call: Callable[[], T]
    ) -> T:
        """``call`` on the thread ``submit`` hands it to, awaited."""
        with self._lock:
            self._submitted += 1
            self._waits += self._submitted > self._capacity
        try:
            return await asyncio.wrap_future(submit(self._counted(call)))
        except sqlite3.OperationalError as exc:
            if _unwritable(exc):
                raise Unavailable(
                    f"The database file cannot be written ({exc}): check the disk's free space"
                    f" and that {self.path} and its folder are writable; the server writes"
                    " again by itself once they are, so retry in a few seconds.",
                    retry_after=UNWRITABLE_RETRY_SECONDS,
                ) from exc
            if any(word in str(exc).lower() for word in _BUSY):
                raise Unavailable(
                    f"The database cannot serve the request right now ({exc}); retry shortly."
                ) from exc
            raise

    async def hold_name(self, name: str) -> str:
        """A name held by an ``flock`` beside the file (``slots.py``)."""
        return self._slots.hold(name)

    async def close(self) -> None:
        """Finish queued work, then close every connection."""
        self._slots.release()
        self._writer.shutdown()
        self._reader_pool.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


__all__ = ["SqliteRunner", "migrate", "sqlite_path"]
