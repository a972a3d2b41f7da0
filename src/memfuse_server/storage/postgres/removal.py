"""Deleting users, agents and sessions with everything derived from them.

Rows that reference a session cascade with it (messages, episodes, jobs of a
user); search documents and derived M1/M2 items are removed explicitly first,
since a document names its item without a foreign key.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from memfuse_server.storage.postgres import entities as ent
from memfuse_server.storage.postgres.derived import forget_messages
from memfuse_server.storage.postgres.documents import bump_memory_version

Connection = asyncpg.Connection

_SESSION_DOCUMENTS = """
DELETE FROM documents d USING (
    SELECT user_id, id, 'message' AS kind FROM messages WHERE session_id = ANY($1::text[])
    UNION ALL
    SELECT user_id, id, 'chunk' AS kind FROM episodes WHERE session_id = ANY($1::text[])
) owned
WHERE d.user_id = owned.user_id AND d.kind = owned.kind AND d.item_id = owned.id
"""


async def _drop_sessions(conn: Connection, session_ids: Sequence[str]) -> None:
    """Before whole sessions cascade away: remove their search rows and what was derived."""
    if not session_ids:
        return
    await conn.execute(_SESSION_DOCUMENTS, list(session_ids))
    by_user: dict[str, list[str]] = {}
    for user_id, message_id in await conn.fetch(
        "SELECT user_id, id FROM messages WHERE session_id = ANY($1::text[])", list(session_ids)
    ):
        by_user.setdefault(user_id, []).append(message_id)
    owners = await conn.fetch(
        "SELECT DISTINCT user_id FROM sessions WHERE id = ANY($1::text[])", list(session_ids)
    )
    for user_id, ids in by_user.items():
        await forget_messages(conn, user_id, ids)
    for user_id in sorted(str(r[0]) for r in owners):
        await bump_memory_version(conn, user_id)


async def delete_user(conn: Connection, user_id: str) -> None:
    # documents, sessions, messages, derived items and jobs all reference the user: they cascade
    await ent.delete_named(conn, ent.USERS, user_id)


async def delete_agent(conn: Connection, agent_id: str) -> None:
    await ent.get_named(conn, ent.AGENTS, agent_id)
    ids = [r[0] for r in await conn.fetch("SELECT id FROM sessions WHERE agent_id = $1", agent_id)]
    await _drop_sessions(conn, ids)
    await ent.delete_named(conn, ent.AGENTS, agent_id)


async def delete_session(conn: Connection, session_id: str, owner: str | None = None) -> None:
    await ent.get_session(conn, session_id, owner)
    await _drop_sessions(conn, [session_id])
    await conn.execute("DELETE FROM sessions WHERE id = $1", session_id)


__all__ = ["delete_agent", "delete_session", "delete_user"]
