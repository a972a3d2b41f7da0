"""Storage: the only place a backend is picked (``open_store``)."""

from __future__ import annotations

from memfuse_server.config import Settings
from memfuse_server.storage.base import MessageQuery, PreparedMessage, Store
from memfuse_server.storage.postgres.database import Database as PostgresDatabase
from memfuse_server.storage.postgres.database import postgres_url
from memfuse_server.storage.postgres.sizing import check_pool
from memfuse_server.storage.postgres.store import PostgresStore
from memfuse_server.storage.sqlite.database import Database, sqlite_path
from memfuse_server.storage.sqlite.store import SqliteStore


def _sqlite_database(settings: Settings) -> Database:
    db = settings.database
    return Database(
        sqlite_path(db.url),
        synchronous=db.synchronous,
        busy_timeout_ms=db.busy_timeout_ms,
        readers=db.read_connections,
    )


def open_store(settings: Settings) -> Store:
    """The store the settings name (not yet opened: call ``await store.open()``).

    ``database.url`` picks it: ``sqlite:///path`` the embedded store,
    ``postgresql://...`` (or ``postgres://``) PostgreSQL with pgvector, after
    checking that its pool fits the configured concurrency.
    """
    db = settings.database
    if postgres_url(db.url):
        check_pool(settings)
        return PostgresStore(PostgresDatabase(db, settings.embedding.dimension))
    return SqliteStore(
        _sqlite_database(settings),
        settings.embedding.dimension,
        db.vector_cache_rows,
        db.vector_partition_rows,
        db.vector_warmup_rows,
    )


async def migrate_store(settings: Settings) -> int:
    """Bring the configured database's schema up to date; return its version."""
    if postgres_url(settings.database.url):
        return await PostgresDatabase(settings.database, settings.embedding.dimension).migrate()
    database = _sqlite_database(settings)
    try:
        return await database.open()
    finally:
        database.close()


__all__ = ["MessageQuery", "PreparedMessage", "Store", "migrate_store", "open_store"]
