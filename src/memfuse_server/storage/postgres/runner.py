"""The PostgreSQL runner: one asyncpg pool, transactions, retries.

Every store call borrows one pooled connection for one transaction and gives
it back: nothing holds a connection across an embedding or an LLM call (the
service embeds before it calls the store). A transaction that fails because
the connection dropped, the server restarted, or a deadlock/serialization
conflict rolled it back is run again on a fresh connection, a few times with
exponential backoff; if the database stays unreachable the call raises
``Unavailable`` (503). The pool reconnects by itself once the database is
back. A failure *during* COMMIT is not retried: whether it committed is
unknown, and the caller is told so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ParamSpec, TypeVar, cast

import asyncpg
import orjson
import structlog
from asyncpg.pool import PoolConnectionProxy
from pgvector.asyncpg import register_vector

from memfuse_server.config import DatabaseSettings
from memfuse_server.errors import ConfigurationError, Unavailable
from memfuse_server.storage.base import PoolStats
from memfuse_server.storage.postgres.migrate import migrate
from memfuse_server.storage.tx import Dialect, IndexChanges, Op, Row

T = TypeVar("T")
P = ParamSpec("P")
Connection = asyncpg.Connection
log = structlog.get_logger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # 08xxx, incl. ConnectionDoesNotExistError
    asyncpg.exceptions.AdminShutdownError,  # 57P01: the server is shutting down
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up / recovering
    asyncpg.exceptions.TooManyConnectionsError,  # 53300
    asyncpg.exceptions.TransactionRollbackError,  # 40001 serialization, 40P01 deadlock
    asyncpg.exceptions.InterfaceError,  # "connection is closed" and the like
    asyncpg.exceptions.InternalClientError,  # a protocol left mid-operation by a dropped link
    OSError,  # refused, reset, unreachable
)


_CLOSE_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, *TRANSIENT)
_TRY_HOLD = "SELECT pg_try_advisory_lock(hashtextextended($1, 78))"  # 77: lock_memory's
MAX_NAME_SLOTS = 1024


def postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class _CommitUnknown(Exception):
    """The connection failed while COMMIT was in flight."""


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


async def _reset_connection(conn: Connection) -> None:
    """On the way back to the pool: end a transaction left open (nothing else is session
    state here), saving asyncpg's default reset round trip on every call."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def _init_connection(conn: Connection) -> None:
    await register_vector(conn)
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


def _changed(status: str) -> int:
    """Rows a command changed, from its status ("UPDATE 3", "INSERT 0 1", "DELETE 0")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgTx:
    """One transaction on a pooled connection: the operations' SQL is PostgreSQL's own,
    and asyncpg's codecs (JSON, pgvector) take and give Python values."""

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self.changes = IndexChanges()

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return list(await self.conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: object) -> Any:
        return await self.conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: object) -> int:
        return _changed(await self.conn.execute(sql, *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        rows = list(rows)
        if len(rows) == 1:
            await self.conn.execute(sql, *rows[0])
        elif rows:
            await self.conn.executemany(sql, rows)


class PostgresRunner:
    """An asyncpg pool over one PostgreSQL database, with the schema brought up to date."""

    def __init__(self, settings: DatabaseSettings, dimension: int, dialect: Dialect) -> None:
        if not postgres_url(settings.url):
            raise ConfigurationError(
                f"Not a PostgreSQL URL: {settings.url!r}; use postgresql://user:pass@host/db"
            )
        self.settings = settings
        self.dimension = dimension
        self.dialect = dialect
        self._pool: asyncpg.Pool | None = None
        self._holder: Connection | None = None  # holds the names of hold_name
        self._in_use = self._waiting = self._waits = 0

    @property
    def max_size(self) -> int:
        return self.settings.pool_size + self.settings.max_overflow

    def _server_settings(self) -> dict[str, str]:
        return {
            "application_name": "memfuse-server",
            "jit": "off",  # short OLTP queries: JIT compilation only adds latency
            "hnsw.ef_search": str(self.settings.hnsw_ef_search),
            "hnsw.iterative_scan": "strict_order",  # the user filter never starves a search
        }

    async def _connect(self) -> Connection:
        conn: Connection = await asyncpg.connect(
            self.settings.url,
            timeout=self.settings.acquire_timeout_seconds,
            server_settings=self._server_settings(),
        )
        return conn

    async def migrate(self) -> int:
        """Apply every pending migration (several processes may call this at once)."""

        async def run() -> int:
            conn = await self._connect()
            try:
                return await migrate(conn, self.dimension)
            finally:
                await conn.close()

        return await self._retrying(run, "migrating the database")

    async def open(self) -> int:
        """Migrate, then open the pool."""
        version = await self.migrate()

        async def create() -> asyncpg.Pool:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                self.settings.url,
                min_size=self.settings.pool_size,
                max_size=self.max_size,
                init=_init_connection,
                reset=_reset_connection,
                timeout=self.settings.acquire_timeout_seconds,
                max_inactive_connection_lifetime=300.0,
                server_settings=self._server_settings(),
            )
            return pool

        self._pool = await self._retrying(create, "connecting to the database")
        return version

    async def hold_name(self, name: str) -> str:
        """A name held by a session advisory lock on a connection of its own (outside the
        pool), which PostgreSQL lets go when the connection ends with the process."""
        if self._holder is None:
            self._holder = await self._retrying(self._connect, "connecting to the database")
        for slot in range(MAX_NAME_SLOTS):
            held = f"{name}/{slot}"
            if await self._holder.fetchval(_TRY_HOLD, held):
                return held
        raise Unavailable(f"{MAX_NAME_SLOTS} processes already hold {name!r}.")

    async def close(self) -> None:
        if self._holder is not None:
            holder, self._holder = self._holder, None
            with contextlib.suppress(*_CLOSE_ERRORS):
                await asyncio.wait_for(holder.close(), timeout=10)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except _CLOSE_ERRORS:
                pool.terminate()

    async def write(self, op: Op[P, T], *args: P.args, **kw: P.kwargs) -> tuple[T, IndexChanges]:
        """Run ``op(tx, ...)`` as one read-committed transaction, retried if the connection drops."""
        return await self._retrying(lambda: self._transaction(False, op, *args, **kw), "writing")

    write_background = write  # the pool serves writes side by side: no queue to go first in

    async def read(self, op: Op[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """Run ``op(tx, ...)`` in a read-only snapshot (repeatable read), retried likewise."""
        result, _ = await self._retrying(
            lambda: self._transaction(True, op, *args, **kw), "reading"
        )
        return result

    async def _transaction(
        self, readonly: bool, op: Op[P, T], *args: P.args, **kw: P.kwargs
    ) -> tuple[T, IndexChanges]:
        if self._pool is None:
            raise Unavailable("The database store is not open; start the server again.")
        try:
            proxy = await self._acquire(self._pool)
        except TimeoutError as exc:
            raise Unavailable(
                f"No database connection became free within "
                f"{self.settings.acquire_timeout_seconds:g} s (pool of {self.max_size}, all busy);"
                " retry shortly, or raise database.max_overflow."
            ) from exc
        tx = PgTx(cast(Connection, proxy), self.dialect)  # a proxy that forwards to its connection
        self._in_use += 1
        try:
            result = await self._in_transaction(tx.conn, readonly, lambda: op(tx, *args, **kw))
            return result, tx.changes
        finally:
            self._in_use -= 1
            await self._pool.release(proxy)

    async def _acquire(self, pool: asyncpg.Pool) -> PoolConnectionProxy:
        """A pooled connection, counting the calls that had to wait for one."""
        if pool.get_idle_size() == 0 and pool.get_size() >= self.max_size:
            self._waits += 1
        self._waiting += 1
        try:
            return await pool.acquire(timeout=self.settings.acquire_timeout_seconds)
        finally:
            self._waiting -= 1

    def pool_stats(self) -> PoolStats:
        """Connections in use now, calls waiting for one, and calls that waited so far."""
        return PoolStats(self._in_use, self._waiting, self._waits)

    @staticmethod
    async def _in_transaction(
        conn: Connection, readonly: bool, body: Callable[[], Awaitable[T]]
    ) -> T:
        tx = conn.transaction(
            isolation="repeatable_read" if readonly else "read_committed", readonly=readonly
        )
        await tx.start()
        try:
            result = await body()
        except BaseException:
            with contextlib.suppress(Exception):
                await tx.rollback()
            raise
        try:
            await tx.commit()
        except TRANSIENT as exc:
            if readonly:
                raise  # nothing was written: safe to try again
            raise _CommitUnknown(str(exc)) from exc
        return result

    async def _retrying(self, call: Callable[[], Awaitable[T]], doing: str) -> T:
        delay = self.settings.retry_backoff_seconds
        attempts = self.settings.retry_attempts
        for attempt in range(attempts + 1):
            try:
                return await call()
            except _CommitUnknown as exc:
                raise Unavailable(
                    f"The database connection failed while committing ({exc}); the write may or"
                    " may not have been saved. Retry it with the same Idempotency-Key."
                ) from exc
            except TRANSIENT as exc:
                if attempt == attempts:
                    raise Unavailable(_down_message(doing, attempts, exc)) from exc
                log.warning("database call failed, retrying", doing=doing, error=_describe(exc))
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _down_message(doing: str, attempts: int, exc: BaseException) -> str:
    return (
        f"The database is unavailable ({_describe(exc)}) while {doing}, after {attempts + 1}"
        " attempts. Check that PostgreSQL is running and reachable; the server reconnects by"
        " itself when it is back, so retry shortly."
    )


__all__ = ["TRANSIENT", "Connection", "PgTx", "PostgresRunner", "postgres_url"]
