"""Reading a user's memory in pages, for an export that never holds a user whole.

Each page is one short read, ordered by a key the next page starts after (keyset paging: a
page costs the same at the start and at the end of a million messages, where ``OFFSET``
would read everything before it again). The order is one that another server, after an
import, lists the same way: sessions by name, a session's messages as they are listed (by
time, then as they were stored), knowledge as it was stored, agents by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from memfuse_server.models import Agent, ItemKind, Knowledge, MemoryItem, Message, Session
from memfuse_server.storage.ops.forgetting import TABLES
from memfuse_server.storage.ops.resolve import RESOLVERS
from memfuse_server.storage.ops.rows import dt, to_agent, to_knowledge, to_message, to_session
from memfuse_server.storage.tx import Tx

T = TypeVar("T")
Cursor = tuple[Any, ...]  # where the next page starts: the last row's ordering key
Page = tuple[list[T], Cursor | None]  # the rows, and the cursor of the next page (None: end)


def _next(rows: Sequence[Any], limit: int, key: Cursor) -> Cursor | None:
    return key if len(rows) == limit else None


async def counts(tx: Tx, user_id: str) -> dict[str, int]:
    """How many sessions, messages and knowledge items, facts, entities and relations."""
    out = {
        "sessions": await tx.fetchval("SELECT COUNT(*) FROM sessions WHERE user_id = $1", user_id),
        "messages": await tx.fetchval(
            "SELECT COUNT(*) FROM messages m JOIN sessions s ON s.id = m.session_id"
            " WHERE s.user_id = $1",
            user_id,
        ),
        "knowledge": await tx.fetchval(
            "SELECT COUNT(*) FROM knowledge WHERE user_id = $1", user_id
        ),
    }
    for table in TABLES.values():  # facts, entities, relations
        out[table] = await tx.fetchval(f"SELECT COUNT(*) FROM {table} WHERE user_id = $1", user_id)
    return {k: int(v) for k, v in out.items()}


async def agents_of(tx: Tx, user_id: str) -> list[Agent]:
    """The agents the user's sessions are with, by name."""
    rows = await tx.fetch(
        "SELECT * FROM agents WHERE id IN (SELECT agent_id FROM sessions WHERE user_id = $1)"
        " ORDER BY name",
        user_id,
    )
    return [to_agent(r) for r in rows]


async def sessions_page(tx: Tx, user_id: str, after: Cursor | None, limit: int) -> Page[Session]:
    """The user's sessions by name (unique per user), after ``after``."""
    rows = await tx.fetch(
        "SELECT * FROM sessions WHERE user_id = $1 AND name > $2 ORDER BY name LIMIT $3",
        user_id,
        after[0] if after else "",
        limit,
    )
    return [to_session(r) for r in rows], _next(rows, limit, (rows[-1]["name"],) if rows else ())


async def messages_page(tx: Tx, session_id: str, after: Cursor | None, limit: int) -> Page[Message]:
    """A session's messages in the order they are listed (time, then as stored)."""
    if after is None:
        rows = await tx.fetch(
            "SELECT * FROM messages WHERE session_id = $1 ORDER BY created_at, seq LIMIT $2",
            session_id,
            limit,
        )
    else:
        rows = await tx.fetch(
            "SELECT * FROM messages WHERE session_id = $1 AND (created_at > $2"
            " OR (created_at = $2 AND seq > $3)) ORDER BY created_at, seq LIMIT $4",
            session_id,
            after[0],
            after[1],
            limit,
        )
    key = (dt(rows[-1]["created_at"]), int(rows[-1]["seq"])) if rows else ()
    return [to_message(r) for r in rows], _next(rows, limit, key)


async def knowledge_page(tx: Tx, user_id: str, after: Cursor | None, limit: int) -> Page[Knowledge]:
    """The user's knowledge as it was stored."""
    rows = await tx.fetch(
        "SELECT * FROM knowledge WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        user_id,
        after[0] if after else 0,
        limit,
    )
    return [to_knowledge(r) for r in rows], _next(
        rows, limit, (int(rows[-1]["seq"]),) if rows else ()
    )


async def items_page(
    tx: Tx, user_id: str, kind: ItemKind, after: Cursor | None, limit: int
) -> Page[MemoryItem]:
    """The user's facts, entities or relations, oldest first, with their sources."""
    table = TABLES[kind]
    if after is None:
        rows = await tx.fetch(
            f"SELECT id, created_at FROM {table} WHERE user_id = $1 ORDER BY created_at, id"
            " LIMIT $2",
            user_id,
            limit,
        )
    else:
        rows = await tx.fetch(
            f"SELECT id, created_at FROM {table} WHERE user_id = $1 AND (created_at > $2"
            " OR (created_at = $2 AND id > $3)) ORDER BY created_at, id LIMIT $4",
            user_id,
            after[0],
            after[1],
            limit,
        )
    ids = [str(r["id"]) for r in rows]
    by_id = {i.id: i for i in await RESOLVERS[kind](tx, user_id, ids)} if ids else {}
    key = (dt(rows[-1]["created_at"]), ids[-1]) if rows else ()
    return [by_id[i] for i in ids if i in by_id], _next(rows, limit, key)


async def message_places(
    tx: Tx, user_id: str, message_ids: Sequence[str]
) -> dict[str, tuple[str, int]]:
    """Where each of the user's messages is in an export: its session's name and its place
    in the session (from 0, in the order of ``messages_page``)."""
    if not message_ids:
        return {}
    rows = await tx.fetch(
        "SELECT m.id, s.name, (SELECT COUNT(*) FROM messages o WHERE o.session_id = m.session_id"
        " AND (o.created_at < m.created_at OR (o.created_at = m.created_at AND o.seq < m.seq)))"
        " FROM messages m JOIN sessions s ON s.id = m.session_id"
        " WHERE s.user_id = $1 AND m.id = ANY($2::text[])",
        user_id,
        sorted(set(message_ids)),
    )
    return {str(r[0]): (str(r[1]), int(r[2])) for r in rows}


__all__ = [
    "Cursor",
    "Page",
    "agents_of",
    "counts",
    "items_page",
    "knowledge_page",
    "message_places",
    "messages_page",
    "sessions_page",
]
