"""A user's memory version: bumped by every write to the user's memory, in the same
transaction, so the query cache key changes and a query after a write sees it, in
every process sharing the database."""

from __future__ import annotations

from collections.abc import Iterable

from memfuse_server.storage.tx import Tx


async def bump_memory_version(tx: Tx, user_id: str) -> None:
    """Invalidate every process's cached queries of this user (call last: on PostgreSQL
    it locks the user row until the transaction ends)."""
    await tx.execute("UPDATE users SET memory_version = memory_version + 1 WHERE id = $1", user_id)


async def bump_memory_versions(tx: Tx, user_ids: Iterable[str]) -> None:
    """Bump several users' versions, in id order (the lock order: ``ops/locks.py``)."""
    for user_id in sorted(set(user_ids)):
        await bump_memory_version(tx, user_id)


async def memory_version(tx: Tx, user_id: str) -> int:
    """The user's memory version; -1 when there is no such user."""
    found = await tx.fetchval("SELECT memory_version FROM users WHERE id = $1", user_id)
    return -1 if found is None else int(found)


__all__ = ["bump_memory_version", "bump_memory_versions", "memory_version"]
