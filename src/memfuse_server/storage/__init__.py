"""Storage: the only place a backend is picked (``open_store``)."""

from __future__ import annotations

from memfuse_server.config import Settings
from memfuse_server.storage.base import MessageQuery, PreparedMessage, Store
from memfuse_server.storage.sqlite.database import Database, sqlite_path
from memfuse_server.storage.sqlite.store import SqliteStore


def open_store(settings: Settings) -> Store:
    """The store the settings name (not yet opened: call ``await store.open()``)."""
    db = settings.database
    database = Database(
        sqlite_path(db.url),
        synchronous=db.synchronous,
        busy_timeout_ms=db.busy_timeout_ms,
        readers=db.read_connections,
    )
    return SqliteStore(database, settings.embedding.dimension, db.vector_cache_rows)


__all__ = ["MessageQuery", "PreparedMessage", "Store", "open_store"]
