"""M0 message transactions: insert into the open window, edit, delete, list.

Each public function here runs inside one write (or read) transaction that
``SqliteStore`` opens; they raise ``NotFound`` to roll the whole of it back.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime

import orjson

from memfuse_server.buffer import Incoming, RoundBuffer, WindowState
from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import Conflict, NotFound
from memfuse_server.models import ItemKind, Message, Session
from memfuse_server.storage.base import MessageQuery, PreparedMessage, WriteContext
from memfuse_server.storage.sqlite.derived import forget_messages
from memfuse_server.storage.sqlite.documents import (
    Changes,
    add_documents,
    bump_memory_version,
    remove_documents,
)
from memfuse_server.storage.sqlite.episodes import (
    close_window,
    rebuild_episode,
    recount_window,
    set_window,
    window_state,
)
from memfuse_server.storage.sqlite.jobs import PROCESS_EPISODE, enqueue
from memfuse_server.storage.sqlite.rows import param_marks, scoped, to_message, ts

_INSERT = (
    "INSERT INTO messages (id, session_id, user_id, role, name, content, metadata, tokens,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _searchable(
    ids: Sequence[str], prepared: Sequence[PreparedMessage], vectors: Vectors
) -> tuple[list[tuple[str, str]], Vectors]:
    """The (id, text) pairs worth indexing, with their rows of ``vectors``."""
    keep = [i for i, p in enumerate(prepared) if p.search_text]
    return [(ids[i], prepared[i].search_text) for i in keep], vectors[keep]


def insert_messages(
    conn: sqlite3.Connection,
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
    state = window_state(conn, session.id)
    if state is None:
        raise NotFound(f"Session {session.id} not found; it may have been deleted.")
    if context.idempotency_key:
        earlier = idempotent_result(conn, session.id, context.idempotency_key, context.body_hash)
        if earlier is not None:
            return earlier
    ids = _insert(conn, session, state, prepared, vectors, buffer, now, context.request_id)
    if context.idempotency_key:
        conn.execute(
            "INSERT INTO idempotency_keys (session_id, key, body_hash, message_ids, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                session.id,
                context.idempotency_key,
                context.body_hash,
                orjson.dumps(ids).decode(),
                ts(now),
            ),
        )
    return ids


def idempotent_result(
    conn: sqlite3.Connection, session_id: str, key: str, body_hash: str
) -> list[str] | None:
    """The ids an earlier write with this key returned; Conflict if its body differed."""
    row = conn.execute(
        "SELECT body_hash, message_ids FROM idempotency_keys WHERE session_id = ? AND key = ?",
        (session_id, key),
    ).fetchone()
    if row is None:
        return None
    if row[0] != body_hash:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used with a different request body;"
            " use a new key for a new request."
        )
    ids: list[str] = orjson.loads(row[1])
    return ids


def _insert(
    conn: sqlite3.Connection,
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
    for i, p in enumerate(prepared):
        if plan.close_before[i]:
            close_window(conn, session.id, session.user_id, now, request_id)
        conn.execute(_INSERT, _message_values(ids[i], session, p, now))
        items, rows = _searchable(ids[i : i + 1], [p], vectors[i : i + 1])
        add_documents(conn, session.user_id, ItemKind.MESSAGE, items, rows)
    if plan.close_after_last:
        close_window(conn, session.id, session.user_id, now, request_id)
    set_window(conn, session.id, plan.state)
    conn.execute(
        "UPDATE sessions SET last_message_at = ?, updated_at = ? WHERE id = ?",
        (ts(now), ts(now), session.id),
    )
    bump_memory_version(conn, session.user_id)
    return ids


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
        orjson.dumps(m.metadata).decode(),
        p.tokens,
        ts(m.created_at or now),
        ts(now),
    )


def _owned(
    conn: sqlite3.Connection, session_id: str, ids: Sequence[str], owner: str | None
) -> list[sqlite3.Row]:
    """The rows of these messages, in the order asked; NotFound if any is not in the session."""
    scope, args = scoped(owner)
    rows = conn.execute(
        f"SELECT * FROM messages WHERE session_id = ? AND id IN ({param_marks(len(ids))}){scope}",
        (session_id, *ids, *args),
    ).fetchall()
    by_id = {r["id"]: r for r in rows}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise NotFound(f"Message(s) not found in session {session_id}: {', '.join(missing)}.")
    return [by_id[i] for i in ids]


def update_messages(
    conn: sqlite3.Connection,
    session_id: str,
    ids: Sequence[str],
    prepared: Sequence[PreparedMessage],
    vectors: Vectors,
    now: datetime,
    changes: Changes,
    owner: str | None = None,
) -> None:
    """Replace messages' text and re-derive their index rows and episodes."""
    rows = _owned(conn, session_id, ids, owner)
    user_id = rows[0]["user_id"]
    remove_documents(conn, user_id, ItemKind.MESSAGE, ids, changes)
    forget_messages(conn, user_id, ids, changes)
    for row, p in zip(rows, prepared, strict=True):
        m = p.message
        conn.execute(
            "UPDATE messages SET role = ?, name = ?, content = ?, metadata = ?, tokens = ?,"
            " created_at = ?, updated_at = ? WHERE id = ?",
            (
                m.role.value,
                m.name,
                m.content,
                orjson.dumps(m.metadata).decode(),
                p.tokens,
                ts(m.created_at) if m.created_at else row["created_at"],
                ts(now),
                row["id"],
            ),
        )
    items, kept = _searchable(ids, prepared, vectors)
    add_documents(conn, user_id, ItemKind.MESSAGE, items, kept)
    _rederive(conn, session_id, user_id, rows, now, changes)
    for episode_id in sorted({r["episode_id"] for r in rows if r["episode_id"]}):
        enqueue(conn, PROCESS_EPISODE, user_id, {"episode_id": episode_id}, now)


def delete_messages(
    conn: sqlite3.Connection,
    session_id: str,
    ids: Sequence[str],
    now: datetime,
    changes: Changes,
    owner: str | None = None,
) -> None:
    """Delete messages and everything derived from them."""
    rows = _owned(conn, session_id, ids, owner)
    user_id = rows[0]["user_id"]
    remove_documents(conn, user_id, ItemKind.MESSAGE, ids, changes)
    forget_messages(conn, user_id, ids, changes)
    conn.execute(f"DELETE FROM messages WHERE id IN ({param_marks(len(ids))})", list(ids))
    _rederive(conn, session_id, user_id, rows, now, changes)


def _rederive(
    conn: sqlite3.Connection,
    session_id: str,
    user_id: str,
    rows: Sequence[sqlite3.Row],
    now: datetime,
    changes: Changes,
) -> None:
    for episode_id in sorted({r["episode_id"] for r in rows if r["episode_id"]}):
        rebuild_episode(conn, user_id, episode_id, now, changes)
    recount_window(conn, session_id)
    bump_memory_version(conn, user_id)


def list_messages(
    conn: sqlite3.Connection, session_id: str, query: MessageQuery, owner: str | None = None
) -> list[Message]:
    scope, args = scoped(owner)
    where = f"session_id = ?{scope}"
    if query.in_buffer is not None:
        where += " AND episode_id IS NULL" if query.in_buffer else " AND episode_id IS NOT NULL"
    order = "DESC" if query.descending else "ASC"
    rows = conn.execute(
        f"SELECT * FROM messages WHERE {where} ORDER BY created_at {order}, seq {order} LIMIT ?",
        (session_id, *args, query.limit),
    ).fetchall()
    return [to_message(r) for r in rows]


def read_messages(
    conn: sqlite3.Connection, session_id: str, ids: Sequence[str], owner: str | None = None
) -> list[Message]:
    return [to_message(r) for r in _owned(conn, session_id, ids, owner)]


def idle_sessions(conn: sqlite3.Connection, idle_since: datetime) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT id, user_id FROM sessions WHERE window_size > 0 AND last_message_at < ?",
        (ts(idle_since),),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def close_idle(conn: sqlite3.Connection, idle_since: datetime, now: datetime) -> int:
    closed = 0
    for session_id, user_id in idle_sessions(conn, idle_since):
        if close_window(conn, session_id, user_id, now):
            bump_memory_version(conn, user_id)
            closed += 1
    return closed


__all__ = [
    "close_idle",
    "delete_messages",
    "insert_messages",
    "list_messages",
    "read_messages",
    "update_messages",
]
