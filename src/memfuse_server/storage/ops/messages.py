"""M0 message transactions: insert into the open window, edit, delete, list.

Each write raises ``NotFound`` to roll the whole of it back. A write to a session
holds its row first (``lock_window``: ``FOR UPDATE`` on PostgreSQL, the single
writer on SQLite), so concurrent writes to one session, from any process, apply
the round-window policy one after another.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from memfuse_server.buffer import Incoming, RoundBuffer, WindowState
from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import Conflict, NotFound
from memfuse_server.models import ItemKind, Message, Session
from memfuse_server.storage.base import MessageQuery, PreparedMessage, WriteContext
from memfuse_server.storage.ops.episodes import (
    close_window,
    lock_window,
    rebuild_episode,
    recount_window,
    set_window,
)
from memfuse_server.storage.ops.jobs import PROCESS_EPISODE, enqueue
from memfuse_server.storage.ops.removal import forget_messages
from memfuse_server.storage.ops.rows import in_order, js, scoped, to_message, utc
from memfuse_server.storage.ops.version import bump_memory_version, bump_memory_versions
from memfuse_server.storage.tx import Row, Tx

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
    tx: Tx,
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
    state = await lock_window(tx, session.id)
    if state is None:
        raise NotFound(f"Session {session.id} not found; it may have been deleted.")
    if context.idempotency_key:
        earlier = await idempotent_result(
            tx, session.id, context.idempotency_key, context.body_hash
        )
        if earlier is not None:
            return earlier
    ids = await _insert(tx, session, state, prepared, vectors, buffer, now, context.request_id)
    if context.idempotency_key:
        await tx.execute(
            "INSERT INTO idempotency_keys (session_id, key, body_hash, message_ids, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            session.id,
            context.idempotency_key,
            context.body_hash,
            ids,
            now,
        )
    return ids


async def idempotent_result(tx: Tx, session_id: str, key: str, body_hash: str) -> list[str] | None:
    """The ids an earlier write with this key returned; Conflict if its body differed."""
    row = await tx.fetchrow(
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
    return [str(i) for i in js(row[1])]


async def _insert(
    tx: Tx,
    session: Session,
    state: WindowState,
    prepared: Sequence[PreparedMessage],
    vectors: Vectors,
    buffer: RoundBuffer,
    now: datetime,
    request_id: str | None,
) -> list[str]:
    """Insert the messages a window's worth at a time, closing windows between."""
    plan = buffer.plan(state, [Incoming(p.message.role, p.tokens) for p in prepared])
    ids = [str(uuid.uuid4()) for _ in prepared]
    start = 0
    for i in range(len(prepared) + 1):
        closing = plan.close_after_last if i == len(prepared) else plan.close_before[i]
        if closing or i == len(prepared):
            await _insert_run(tx, session, ids[start:i], prepared[start:i], vectors[start:i], now)
            start = i
        if closing:
            await close_window(tx, session.id, session.user_id, now, request_id)
    await set_window(tx, session.id, plan.state)
    await tx.execute(
        "UPDATE sessions SET last_message_at = $1, updated_at = $1 WHERE id = $2", now, session.id
    )
    await bump_memory_version(tx, session.user_id)
    return ids


async def _insert_run(
    tx: Tx,
    session: Session,
    ids: Sequence[str],
    prepared: Sequence[PreparedMessage],
    vectors: Vectors,
    now: datetime,
) -> None:
    """Insert messages of one window and their search rows, in bulk."""
    if not ids:
        return
    rows = [_message_values(i, session, p, now) for i, p in zip(ids, prepared, strict=True)]
    await tx.executemany(_INSERT, rows)
    items, kept = _searchable(ids, prepared, vectors)
    await tx.dialect.add_documents(tx, session.user_id, ItemKind.MESSAGE, items, kept)


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
    tx: Tx, session_id: str, ids: Sequence[str], owner: str | None, lock: str = ""
) -> list[Row]:
    """The rows of these messages, in the order asked; NotFound if any is not in the session.
    ``lock``: ``tx.dialect.lock_rows`` to hold them until the transaction ends."""
    scope, args = scoped(owner, 3)
    rows = await tx.fetch(
        f"SELECT * FROM messages WHERE session_id = $1 AND id = ANY($2::text[]){scope}"
        f" ORDER BY id{lock}",
        session_id,
        list(ids),
        *args,
    )
    return in_order(
        {r["id"]: r for r in rows}, ids, f"Message(s) not found in session {session_id}"
    )


async def _unindex(
    tx: Tx, session_id: str, ids: Sequence[str], owner: str | None
) -> tuple[list[Row], str]:
    """Hold the session and the messages, check they are in it, and drop their search rows and
    what was derived from them; their rows (in the order asked) and their user. A job saving
    what it extracted from these messages holds them too (``ops/sources.py``): it waits for
    this change, or this change waits for it and forgets what it saved."""
    await lock_window(tx, session_id)
    rows = await _owned(tx, session_id, ids, owner, tx.dialect.lock_rows)
    user_id: str = rows[0]["user_id"]
    await tx.dialect.remove_documents(tx, user_id, ItemKind.MESSAGE, ids)
    await forget_messages(tx, user_id, ids)
    return rows, user_id


async def update_messages(
    tx: Tx,
    session_id: str,
    ids: Sequence[str],
    prepared: Sequence[PreparedMessage],
    vectors: Vectors,
    now: datetime,
    owner: str | None = None,
) -> None:
    """Replace messages' text and re-derive their index rows and episodes."""
    rows, user_id = await _unindex(tx, session_id, ids, owner)
    await tx.executemany(
        "UPDATE messages SET role = $1, name = $2, content = $3, metadata = $4, tokens = $5,"
        " created_at = $6, updated_at = $7 WHERE id = $8",
        [_updated_values(row, p, now) for row, p in zip(rows, prepared, strict=True)],
    )
    items, kept = _searchable(ids, prepared, vectors)
    await tx.dialect.add_documents(tx, user_id, ItemKind.MESSAGE, items, kept)
    await _rederive(tx, session_id, user_id, rows, now)
    for episode_id in sorted({r["episode_id"] for r in rows if r["episode_id"]}):
        await enqueue(tx, PROCESS_EPISODE, user_id, {"episode_id": episode_id}, now)


def _updated_values(row: Row, p: PreparedMessage, now: datetime) -> tuple[object, ...]:
    m = p.message
    created = utc(m.created_at) if m.created_at else row["created_at"]
    return (m.role.value, m.name, m.content, m.metadata, p.tokens, created, now, row["id"])


async def delete_messages(
    tx: Tx, session_id: str, ids: Sequence[str], now: datetime, owner: str | None = None
) -> None:
    """Delete messages and everything derived from them."""
    rows, user_id = await _unindex(tx, session_id, ids, owner)
    await tx.execute("DELETE FROM messages WHERE id = ANY($1::text[])", list(ids))
    await _rederive(tx, session_id, user_id, rows, now)


async def _rederive(
    tx: Tx, session_id: str, user_id: str, rows: Sequence[Row], now: datetime
) -> None:
    for episode_id in sorted({r["episode_id"] for r in rows if r["episode_id"]}):
        await rebuild_episode(tx, user_id, episode_id, now)
    await recount_window(tx, session_id)
    await bump_memory_version(tx, user_id)


async def list_messages(
    tx: Tx, session_id: str, query: MessageQuery, owner: str | None = None
) -> list[Message]:
    scope, args = scoped(owner, 3)
    where = f"session_id = $1{scope}"
    if query.in_buffer is not None:
        where += " AND episode_id IS NULL" if query.in_buffer else " AND episode_id IS NOT NULL"
    order = "DESC" if query.descending else "ASC"
    rows = await tx.fetch(
        f"SELECT * FROM messages WHERE {where} ORDER BY created_at {order}, seq {order} LIMIT $2",
        session_id,
        query.limit,
        *args,
    )
    return [to_message(r) for r in rows]


async def read_messages(
    tx: Tx, session_id: str, ids: Sequence[str], owner: str | None = None
) -> list[Message]:
    return [to_message(r) for r in await _owned(tx, session_id, ids, owner)]


async def close_idle(tx: Tx, idle_since: datetime, now: datetime) -> int:
    """Close every window idle since ``idle_since``; sessions another process is writing
    to (rows held) are skipped, and their windows are no longer idle anyway."""
    sessions = await tx.fetch(
        "SELECT id, user_id FROM sessions WHERE window_size > 0 AND last_message_at < $1"
        " ORDER BY id" + tx.dialect.skip_locked,
        idle_since,
    )
    closed = [row[1] for row in sessions if await close_window(tx, row[0], row[1], now)]
    await bump_memory_versions(tx, closed)  # last, in user order: ops/locks.py
    return len(closed)


async def flush_window(
    tx: Tx, session: Session, now: datetime, request_id: str | None = None
) -> str | None:
    """Close the session's open window now, whatever its size or age (an import's session
    ended): its episode's id, or None when the window was empty."""
    if await lock_window(tx, session.id) is None:
        raise NotFound(f"Session {session.id} not found; it may have been deleted.")
    episode_id = await close_window(tx, session.id, session.user_id, now, request_id)
    if episode_id is not None:
        await bump_memory_version(tx, session.user_id)
    return episode_id


__all__ = [
    "close_idle",
    "delete_messages",
    "flush_window",
    "idempotent_result",
    "insert_messages",
    "list_messages",
    "read_messages",
    "update_messages",
]
