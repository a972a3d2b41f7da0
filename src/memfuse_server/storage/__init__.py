"""Storage: the only place a backend is picked (``open_store``).

One ``Store`` (``store.py``) runs the operations written once in ``ops/`` on either
engine: ``sqlite/`` (the embedded default) or ``postgres/`` (scaled out). Each engine
folder holds only its runner, its dialect, what is its own (SQLite's vector index,
PostgreSQL's pool sizing) and its migrations.
"""

from __future__ import annotations

from memfuse_server.config import Settings
from memfuse_server.models import ProcessKind
from memfuse_server.storage.base import MessageQuery, PreparedMessage, Store
from memfuse_server.storage.postgres.dialect import PostgresDialect
from memfuse_server.storage.postgres.runner import PostgresRunner, postgres_url
from memfuse_server.storage.postgres.sizing import check_pool
from memfuse_server.storage.sqlite.dialect import SqliteDialect
from memfuse_server.storage.sqlite.runner import SqliteRunner, sqlite_path
from memfuse_server.storage.sqlite.vectors import VectorIndex
from memfuse_server.storage.store import SqlStore


def _sqlite_runner(settings: Settings, dialect: SqliteDialect) -> SqliteRunner:
    db = settings.database
    return SqliteRunner(
        sqlite_path(db.url),
        dialect,
        synchronous=db.synchronous,
        busy_timeout_ms=db.busy_timeout_ms,
        readers=db.read_connections,
    )


def _postgres_runner(settings: Settings) -> PostgresRunner:
    return PostgresRunner(settings.database, settings.embedding.dimension, PostgresDialect())


def open_store(settings: Settings, kind: ProcessKind = ProcessKind.SERVE) -> SqlStore:
    """The store the settings name (not yet opened: call ``await store.open()``).

    ``database.url`` picks it: ``sqlite:///path`` the embedded store,
    ``postgresql://...`` (or ``postgres://``) PostgreSQL with pgvector, after
    checking that its pool fits what this kind of process runs at once.
    """
    db = settings.database
    if postgres_url(db.url):
        check_pool(settings, kind)
        return SqlStore(_postgres_runner(settings))
    index = VectorIndex(
        settings.embedding.dimension,
        db.vector_cache_rows,
        db.vector_partition_rows,
        db.vector_warmup_rows,
    )
    return SqlStore(_sqlite_runner(settings, SqliteDialect(index)), index)


def background_store(store: Store) -> Store:
    """What background work reads and writes through: a ``SqlStore``'s background view, whose
    writes go after the requests' (else ``store`` itself)."""
    return store.background if isinstance(store, SqlStore) else store


async def migrate_store(settings: Settings) -> int:
    """Bring the configured database's schema up to date; return its version."""
    if postgres_url(settings.database.url):
        return await _postgres_runner(settings).migrate()
    runner = _sqlite_runner(settings, SqliteDialect(VectorIndex(settings.embedding.dimension)))
    try:
        return await runner.open()
    finally:
        await runner.close()


__all__ = [
    "MessageQuery",
    "PreparedMessage",
    "SqlStore",
    "Store",
    "background_store",
    "migrate_store",
    "open_store",
]
