"""The one order in which writers take their locks (PostgreSQL; SQLite has one writer).

Two transactions that take the same locks in the same order can wait for each other but
never in a circle, so no write deadlocks. Every write takes what it needs of:

1. session rows (``FOR UPDATE``; several in id order): adding, editing or deleting
   messages, closing a window, renaming or deleting a session, an agent or a user;
2. message rows (id order): an edit or deletion ``FOR UPDATE``, a save of derived memory
   ``FOR SHARE`` on its sources (``sources.current_sources``);
3. the user's memory lock (``dialect.lock_memory``; several users in id order): every
   write or removal of derived memory (facts, entities, aliases, relations, provenance);
4. the rows it writes (items, aliases, search rows, knowledge, jobs);
5. user rows last (``version.bump_memory_versions``; several in id order).

docs/deploy.md ("Locks") states the same order for operators.
"""

from __future__ import annotations

from collections.abc import Iterable

from memfuse_server.storage.tx import Tx


async def lock_sessions(tx: Tx, where: str, *args: object) -> list[str]:
    """Step 1: hold the sessions matching ``where`` (a predicate on ``sessions``), in id
    order; their ids."""
    rows = await tx.fetch(
        f"SELECT id FROM sessions WHERE {where} ORDER BY id{tx.dialect.lock_rows}", *args
    )
    return [str(r[0]) for r in rows]


async def lock_memory(tx: Tx, user_ids: Iterable[str]) -> None:
    """Step 3: the memory lock of each of these users, in id order."""
    for user_id in sorted(set(user_ids)):
        await tx.dialect.lock_memory(tx, user_id)


__all__ = ["lock_memory", "lock_sessions"]
