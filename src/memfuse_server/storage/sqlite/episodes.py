"""Episodes: closing a session's round window, and keeping episodes true to their messages.

An episode's text is its messages as ``speaker: content`` lines; its vector is
the normalised mean of its messages' vectors (every message counts, where one
embedding of the whole text would be truncated at the model's 256 tokens).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from memfuse_server.buffer import WindowState
from memfuse_server.models import EpisodeInput, EpisodeMessage, ItemKind
from memfuse_server.storage.sqlite.documents import (
    Changes,
    add_documents,
    item_vectors,
    remove_documents,
)
from memfuse_server.storage.sqlite.jobs import PROCESS_EPISODE, enqueue
from memfuse_server.storage.sqlite.rows import dt, ts

_MEMBERS = "SELECT id, role, name, content, created_at FROM messages WHERE {where} ORDER BY created_at, seq"


def episode_text(rows: Sequence[sqlite3.Row]) -> str:
    return "\n".join(f"{r['name'] or r['role']}: {r['content']}" for r in rows if r["content"])


def _centroid(conn: sqlite3.Connection, message_ids: Sequence[str]) -> np.ndarray | None:
    vectors = item_vectors(conn, ItemKind.MESSAGE, message_ids)
    if vectors.size == 0:
        return None
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else None


def _index_episode(
    conn: sqlite3.Connection, user_id: str, episode_id: str, rows: Sequence[sqlite3.Row]
) -> None:
    vector = _centroid(conn, [r["id"] for r in rows])
    text = episode_text(rows)
    if vector is not None and text:
        add_documents(conn, user_id, ItemKind.CHUNK, [(episode_id, text)], vector[None, :])


def close_window(
    conn: sqlite3.Connection,
    session_id: str,
    user_id: str,
    now: datetime,
    request_id: str | None = None,
) -> str | None:
    """Turn the session's open window into an episode and enqueue its processing
    (the outbox: the same transaction); return its id (None if the window was empty)."""
    rows = conn.execute(
        _MEMBERS.format(where="session_id = ? AND episode_id IS NULL"), (session_id,)
    ).fetchall()
    if not rows:
        return None
    episode_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO episodes (id, user_id, session_id, content, start_at, end_at, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            episode_id,
            user_id,
            session_id,
            episode_text(rows),
            rows[0]["created_at"],
            max(r["created_at"] for r in rows),
            ts(now),
            ts(now),
        ),
    )
    conn.execute(
        "UPDATE messages SET episode_id = ? WHERE session_id = ? AND episode_id IS NULL",
        (episode_id, session_id),
    )
    _index_episode(conn, user_id, episode_id, rows)
    set_window(conn, session_id, WindowState())
    enqueue(conn, PROCESS_EPISODE, user_id, {"episode_id": episode_id}, now, request_id)
    return episode_id


def rebuild_episode(
    conn: sqlite3.Connection, user_id: str, episode_id: str, now: datetime, changes: Changes
) -> None:
    """Re-derive an episode after its messages changed; drop it when none are left."""
    remove_documents(conn, user_id, ItemKind.CHUNK, [episode_id], changes)
    rows = conn.execute(_MEMBERS.format(where="episode_id = ?"), (episode_id,)).fetchall()
    if not rows:
        conn.execute("DELETE FROM episodes WHERE id = ?", (episode_id,))
        return
    conn.execute(
        "UPDATE episodes SET content = ?, start_at = ?, end_at = ?, updated_at = ? WHERE id = ?",
        (
            episode_text(rows),
            rows[0]["created_at"],
            max(r["created_at"] for r in rows),
            ts(now),
            episode_id,
        ),
    )
    _index_episode(conn, user_id, episode_id, rows)


def episode_input(conn: sqlite3.Connection, episode_id: str) -> EpisodeInput | None:
    """What an extractor reads of an episode (None when it no longer exists)."""
    head = conn.execute(
        "SELECT e.user_id, e.session_id, u.name FROM episodes e JOIN users u ON u.id = e.user_id"
        " WHERE e.id = ?",
        (episode_id,),
    ).fetchone()
    if head is None:
        return None
    rows = conn.execute(_MEMBERS.format(where="episode_id = ?"), (episode_id,)).fetchall()
    messages = tuple(
        EpisodeMessage(r["id"], r["role"], r["name"], r["content"], dt(r["created_at"]))
        for r in rows
        if r["content"]
    )
    return EpisodeInput(episode_id, head[0], head[2], head[1], messages)


def set_window(conn: sqlite3.Connection, session_id: str, state: WindowState) -> None:
    conn.execute(
        "UPDATE sessions SET window_tokens = ?, window_rounds = ?, window_size = ? WHERE id = ?",
        (state.tokens, state.rounds, state.size, session_id),
    )


def recount_window(conn: sqlite3.Connection, session_id: str) -> None:
    """Recompute the open window's state from its messages (after an edit)."""
    rows = conn.execute(
        "SELECT role, tokens FROM messages WHERE session_id = ? AND episode_id IS NULL"
        " ORDER BY created_at, seq",
        (session_id,),
    ).fetchall()
    rounds = sum(1 for i, r in enumerate(rows) if r["role"] == "user" or i == 0)
    set_window(conn, session_id, WindowState(sum(r["tokens"] for r in rows), rounds, len(rows)))


def window_state(conn: sqlite3.Connection, session_id: str) -> WindowState | None:
    row = conn.execute(
        "SELECT window_tokens, window_rounds, window_size FROM sessions WHERE id = ?", (session_id,)
    ).fetchone()
    return None if row is None else WindowState(row[0], row[1], row[2])


__all__ = [
    "close_window",
    "episode_text",
    "rebuild_episode",
    "recount_window",
    "set_window",
    "window_state",
]
