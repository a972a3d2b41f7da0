"""M0 message transactions: insert into the open window, edit, delete, list.

Each public function here runs inside one transaction that ``PostgresStore``
opens; they raise ``NotFound`` to roll the whole of it back. A write to a
session locks its row first (``FOR UPDATE``), so concurrent writes to one
session, from any process, apply the round-window policy one after another.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from memfuse_server.buffer import Incoming, RoundBuffer, WindowState
from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import Conflict, NotFound
from memfuse_server.models import ItemKind, Message, Session
from memfuse_server.storage.base import MessageQuery, PreparedMessage, WriteContext
from memfuse_server.storage.postgres.derived import forget_messages
from memfuse_server.storage.postgres.documents import (
    add_documents,
    bump_memory_version,
    remove_documents,
)
from memfuse_server.storage.postgres.episodes import (
    close_window,
    lock_window,
    rebuild_episode,
    recount_window,
    set_window,
)
from memfuse_server.storage.postgres.jobs import PROCESS_EPISODE, enqueue
from memfuse_server.storage.postgres.rows import Record, scoped, to_message, utc

Connection = asyncpg.Connection

_INSERT = (
    "INSERT INTO messages (id, session_id, user_id, role, name, content, metadata, tokens,"
    " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)


def _searchable(
    ids: Sequence[str], prepared: Sequence[PreparedMessage], vectors: Vectors
) -> tuple[list[tuple[str, str]], Vectors]:
    """The (id, text) pairs worth indexing, with their rows of ``vectors``."""
    keep = [i for i, p in enumerate(prepared) if p.search_text]
    return [(ids[i], prepared[i].search_text) for i in keep], vectors[keep]


async def insert_messages(
    conn: Connection,
    session: Session,
    prepared: Sequence[PreparedMessage],
    vectors: Vectors,
    buffer: RoundBuffer,
    now: datetime,
    context: WriteContext,
) -> list[str]:
    """Store messages, index them, and append them to the round window.

    With an idempotency key already used for this session, nothing is written
    and the first answer is returned.
    """
    state = await lock_window(conn, session.id)
    if state is None:
        raise NotFound(f"Session {session.id} not found; it may have been deleted.")
    if context.idempotency_key:
        earlier = await idempotent_result(
            conn, session.id, context.idempotency_key, context.body_hash
        )
        if earlier is not None:
            return earlier
    ids = await _insert(conn, session, state, prepared, vectors, buffer, now, context.request_id)
    if context.idempotency_key:
        await conn.execute(
            "INSERT INTO idempotency_keys (session_id, key, body_hash, message_ids, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            session.id,
            context.idempotency_key,
            context.body_hash,
            ids,
            now,
        )
    return ids


async def idempotent_result(
    conn: Connection, session_id: str, key: str, body_hash: str
) -> list[str] | None:
    """The ids an earlier write with this key returned; Conflict if its body differed."""
    row = await conn.fetchrow(
        "SELECT body_hash, message_ids FROM idempotency_keys WHERE session_id = $1 AND key = $2",
        session_id,
        key,
    )
    if row is None:
        return None
    if row[0] != body_hash:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used with a different request body;"
            " use a new key for a new request."
        )
    return [str(i) for i in row[1]]


async def _insert(
    conn: Connection,
    session: Session,
    state: WindowState,
    prepared: Sequence[PreparedMessage],
    vectors: Vectors,
    buffer: RoundBuffer,
    now: datetime,
    request_id: str | None,
) -> list[str]:
    plan = buffer.plan(state, [Incoming(p.message.role, p.tokens) for p in prepared])
    ids = [str(uuid.uuid4()) for _ in prepared]
    start = 0
    for i in range(len(prepared) + 1):
        closing = plan.close_after_last if i == len(prepared) else plan.close_before[i]
        if closing or i == len(prepared):
            await _insert_run(conn, session, ids, prepared, vectors, start, i, now)
            start = i
        if closing:
            await close_window(conn, session.id, session.user_id, now, request_id)
    await set_window(conn, session.id, plan.state)
    await conn.execute(
        "UPDATE sessions SET last_message_at = $1, updated_at = $1 WHERE id = $2", now, session.id
    )
    await bump_memory_version(conn, session.user_id)
    return ids


async def _insert_run(
    conn: Connection,
    session: Session,
    ids: Sequence[str],
    prepared: Sequence[PreparedMessage],
    vectors: Vectors,
    start: int,
    end: int,
    now: datetime,
) -> None:
    """Insert messages ``start:end`` (one window's worth) and their search rows, in bulk."""
    if start >= end:
        return
    rows = [_message_values(ids[i], session, prepared[i], now) for i in range(start, end)]
    await conn.executemany(_INSERT, rows)
    items, kept = _searchable(ids[start:end], prepared[start:end], vectors[start:end])
    await add_documents(conn, session.user_id, ItemKind.MESSAGE, items, kept)


def _message_values(
    message_id: str, session: Session, p: PreparedMessage, now: datetime
) -> tuple[object, ...]:
    m = p.message
    return (
        message_id,
        session.id,
        session.user_id,
        m.role.value,
        m.name,
        m.content,
        m.metadata,
        p.tokens,
        utc(m.created_at or now),
        now,
    )


async def _owned(
    conn: Connection, session_id: str, ids: Sequence[str], owner: str | None
) -> list[Record]:
    """The rows of these messages, in the order asked; NotFound if any is not in the session."""
    scope, args = scoped(owner, n=3)
    rows = await conn.fetch(
        f"SELECT * FROM messages WHERE session_id = $1 AND id = ANY($2::text[]){scope}",
        session_id,
        list(ids),
        *args,
    )
    by_id = {r["id"]: r for r in rows}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise NotFound(f"Message(s) not found in session {session_id}: {', '.join(missing)}.")
    return [by_id[i] for i in ids]


async def update_messages(
    conn: Connection,
    session_id: str,
    ids: Sequence[str],
    prepared: Sequence[PreparedMessage],
    vectors: Vectors,
    now: datetime,
    owner: str | None = None,
) -> None:
    """Replace messages' text and re-derive their index rows and episodes."""
    await lock_window(conn, session_id)
    rows = await _owned(conn, session_id, ids, owner)
    user_id = rows[0]["user_id"]
    await remove_documents(conn, user_id, ItemKind.MESSAGE, ids)
    await forget_messages(conn, user_id, ids)
    await conn.executemany(
        "UPDATE messages SET role = $1, name = $2, content = $3, metadata = $4, tokens = $5,"
        " created_at = $6, updated_at = $7 WHERE id = $8",
        [_updated_values(row, p, now) for row, p in zip(rows, prepared, strict=True)],
    )
    items, kept = _searchable(ids, prepared, vectors)
    await add_documents(conn, user_id, ItemKind.MESSAGE, items, kept)
    await _rederive(conn, session_id, user_id, rows, now)
    for episode_id in sorted({r["episode_id"] for r in rows if r["episode_id"]}):
        await enqueue(conn, PROCESS_EPISODE, user_id, {"episode_id": episode_id}, now)


def _updated_values(row: Record, p: PreparedMessage, now: datetime) -> tuple[object, ...]:
    m = p.message
    created = utc(m.created_at) if m.created_at else row["created_at"]
    return (m.role.value, m.name, m.content, m.metadata, p.tokens, created, now, row["id"])


async def delete_messages(
    conn: Connection,
    session_id: str,
    ids: Sequence[str],
    now: datetime,
    owner: str | None = None,
) -> None:
    """Delete messages and everything derived from them."""
    await lock_window(conn, session_id)
    rows = await _owned(conn, session_id, ids, owner)
    user_id = rows[0]["user_id"]
    await remove_documents(conn, user_id, ItemKind.MESSAGE, ids)
    await forget_messages(conn, user_id, ids)
    await conn.execute("DELETE FROM messages WHERE id = ANY($1::text[])", list(ids))
    await _rederive(conn, session_id, user_id, rows, now)


async def _rederive(
    conn: Connection, session_id: str, user_id: str, rows: Sequence[Record], now: datetime
) -> None:
    for episode_id in sorted({r["episode_id"] for r in rows if r["episode_id"]}):
        await rebuild_episode(conn, user_id, episode_id, now)
    await recount_window(conn, session_id)
    await bump_memory_version(conn, user_id)


async def list_messages(
    conn: Connection, session_id: str, query: MessageQuery, owner: str | None = None
) -> list[Message]:
    scope, args = scoped(owner, n=3)
    where = f"session_id = $1{scope}"
    if query.in_buffer is not None:
        where += " AND episode_id IS NULL" if query.in_buffer else " AND episode_id IS NOT NULL"
    order = "DESC" if query.descending else "ASC"
    rows = await conn.fetch(
        f"SELECT * FROM messages WHERE {where} ORDER BY created_at {order}, seq {order} LIMIT $2",
        session_id,
        query.limit,
        *args,
    )
    return [to_message(r) for r in rows]


async def read_messages(
    conn: Connection, session_id: str, ids: Sequence[str], owner: str | None = None
) -> list[Message]:
    return [to_message(r) for r in await _owned(conn, session_id, ids, owner)]


async def close_idle(conn: Connection, idle_since: datetime, now: datetime) -> int:
    """Close every window idle since ``idle_since``; sessions another process is writing
    to (row locked) are skipped, and their windows are no longer idle anyway."""
    sessions = await conn.fetch(
        "SELECT id, user_id FROM sessions WHERE window_size > 0 AND last_message_at < $1"
        " ORDER BY id FOR UPDATE SKIP LOCKED",
        idle_since,
    )
    closed = 0
    for session_id, user_id in sessions:
        if await close_window(conn, session_id, user_id, now):
            await bump_memory_version(conn, user_id)
            closed += 1
    return closed


__all__ = [
    "close_idle",
    "delete_messages",
    "idempotent_result",
    "insert_messages",
    "list_messages",
    "read_messages",
    "update_messages",
]
