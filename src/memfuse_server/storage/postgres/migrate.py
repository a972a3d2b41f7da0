"""Numbered schema migrations, applied at start under an advisory lock.

``migrations/NNNN_name.sql`` run in order, each in its own transaction, and
``memfuse_migrations`` records which ran. A session-level advisory lock makes
several processes starting at once (API servers, workers, ``memfuse-server
migrate``) take turns: the first applies what is pending, the others find
nothing left to do. ``{dimension}`` in a script is the embedding dimension;
a database made for another dimension is refused.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

from memfuse_server.errors import ConfigurationError

MIGRATION_LOCK = 0x6D656D66  # "memf": the advisory lock key of schema changes

_LEDGER = """
CREATE TABLE IF NOT EXISTS memfuse_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


def migrations() -> list[tuple[int, str, str]]:
    """``(number, name, script)`` of every migration shipped, in order."""
    folder = resources.files("memfuse_server.storage.postgres") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def _apply_pending(conn: asyncpg.Connection, dimension: int) -> int:
    await conn.execute(_LEDGER)
    current = int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM memfuse_migrations"))
    for number, name, script in migrations():
        if number <= current:
            continue
        async with conn.transaction():
            await conn.execute(script.replace("{dimension}", str(dimension)))
            await conn.execute(
                "INSERT INTO memfuse_migrations (version, name) VALUES ($1, $2)", number, name
            )
        current = number
    return current


async def _check_dimension(conn: asyncpg.Connection, dimension: int) -> None:
    stored = await conn.fetchval("SELECT value FROM memfuse_meta WHERE key = 'dimension'")
    if stored is not None and int(stored) != dimension:
        raise ConfigurationError(
            f"This database stores {stored}-dimensional vectors but embedding.dimension is"
            f" {dimension}; use the embedding model the database was made with, or a new database."
        )


async def migrate(conn: asyncpg.Connection, dimension: int) -> int:
    """Bring the schema up to date; return its version."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        version = await _apply_pending(conn, dimension)
        await _check_dimension(conn, dimension)
        return version
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


__all__ = ["MIGRATION_LOCK", "migrate", "migrations"]
