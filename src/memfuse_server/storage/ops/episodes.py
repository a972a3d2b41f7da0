"""Episodes: closing a session's round window, and keeping episodes true to their messages.

An episode's text is its messages as ``speaker: content`` lines; its vector is
the normalised mean of its messages' vectors (every message counts, where one
embedding of the whole text would be truncated at the model's 256 tokens).
Closing a window enqueues the episode's processing in the same transaction (the
outbox). Writers hold the session row (``lock_window``), so two processes never
close one window twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from memfuse_server.buffer import WindowState
from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import EpisodeInput, ItemKind
from memfuse_server.storage.ops.jobs import PROCESS_EPISODE, enqueue
from memfuse_server.storage.ops.rows import dt
from memfuse_server.storage.ops.sources import as_read
from memfuse_server.storage.tx import Row, Tx

_MEMBERS = "SELECT id, role, name, content, created_at FROM messages WHERE {where} ORDER BY created_at, seq"


def episode_text(rows: Sequence[Row]) -> str:
    return "\n".join(f"{r['name'] or r['role']}: {r['content']}" for r in rows if r["content"])


async def _centroid(tx: Tx, user_id: str, message_ids: Sequence[str]) -> Vectors | None:
    found = await tx.dialect.item_vectors(tx, user_id, ItemKind.MESSAGE, message_ids)
    if not found:
        return None
    mean = np.stack(list(found.values())).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else None


async def _index_episode(tx: Tx, user_id: str, episode_id: str, rows: Sequence[Row]) -> None:
    vector = await _centroid(tx, user_id, [r["id"] for r in rows])
    text = episode_text(rows)
    if vector is not None and text:
        await tx.dialect.add_documents(
            tx, user_id, ItemKind.CHUNK, [(episode_id, text)], vector[None, :]
        )


def _span(rows: Sequence[Row]) -> tuple[datetime, datetime]:
    times = [dt(r["created_at"]) for r in rows]
    return times[0], max(times)


async def close_window(
    tx: Tx, session_id: str, user_id: str, now: datetime, request_id: str | None = None
) -> str | None:
    """Turn the session's open window into an episode and enqueue its processing
    (the outbox: the same transaction); return its id (None if the window was empty)."""
    rows = await tx.fetch(
        _MEMBERS.format(where="session_id = $1 AND episode_id IS NULL"), session_id
    )
    if not rows:
        return None
    episode_id = str(uuid.uuid4())
    await tx.execute(
        "INSERT INTO episodes (id, user_id, session_id, content, start_at, end_at, created_at,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        episode_id,
        user_id,
        session_id,
        episode_text(rows),
        *_span(rows),
        now,
    )
    await tx.execute(
        "UPDATE messages SET episode_id = $1 WHERE session_id = $2 AND episode_id IS NULL",
        episode_id,
        session_id,
    )
    await _index_episode(tx, user_id, episode_id, rows)
    await set_window(tx, session_id, WindowState())
    await enqueue(tx, PROCESS_EPISODE, user_id, {"episode_id": episode_id}, now, request_id)
    return episode_id


async def rebuild_episode(tx: Tx, user_id: str, episode_id: str, now: datetime) -> None:
    """Re-derive an episode after its messages changed; drop it when none are left."""
    await tx.dialect.remove_documents(tx, user_id, ItemKind.CHUNK, [episode_id])
    rows = await tx.fetch(_MEMBERS.format(where="episode_id = $1"), episode_id)
    if not rows:
        await tx.execute("DELETE FROM episodes WHERE id = $1", episode_id)
        return
    await tx.execute(
        "UPDATE episodes SET content = $1, start_at = $2, end_at = $3, updated_at = $4"
        " WHERE id = $5",
        episode_text(rows),
        *_span(rows),
        now,
        episode_id,
    )
    await _index_episode(tx, user_id, episode_id, rows)


async def episode_input(tx: Tx, episode_id: str) -> EpisodeInput | None:
    """What an extractor reads of an episode (None when it no longer exists)."""
    head = await tx.fetchrow(
        "SELECT e.user_id, e.session_id, u.name FROM episodes e JOIN users u ON u.id = e.user_id"
        " WHERE e.id = $1",
        episode_id,
    )
    if head is None:
        return None
    rows = await tx.fetch(_MEMBERS.format(where="episode_id = $1"), episode_id)
    messages = tuple(as_read(r) for r in rows if r["content"])
    return EpisodeInput(episode_id, head[0], head[2], head[1], messages)


async def set_window(tx: Tx, session_id: str, state: WindowState) -> None:
    await tx.execute(
        "UPDATE sessions SET window_tokens = $1, window_rounds = $2, window_size = $3"
        " WHERE id = $4",
        state.tokens,
        state.rounds,
        state.size,
        session_id,
    )


async def recount_window(tx: Tx, session_id: str) -> None:
    """Recompute the open window's state from its messages (after an edit)."""
    rows = await tx.fetch(
        "SELECT role, tokens FROM messages WHERE session_id = $1 AND episode_id IS NULL"
        " ORDER BY created_at, seq",
        session_id,
    )
    rounds = sum(1 for i, r in enumerate(rows) if r["role"] == "user" or i == 0)
    await set_window(tx, session_id, WindowState(sum(r["tokens"] for r in rows), rounds, len(rows)))


async def lock_window(tx: Tx, session_id: str) -> WindowState | None:
    """The session's open window, its row held until the transaction ends (None: no session)."""
    row = await tx.fetchrow(
        "SELECT window_tokens, window_rounds, window_size FROM sessions WHERE id = $1"
        + tx.dialect.lock_rows,
        session_id,
    )
    return None if row is None else WindowState(row[0], row[1], row[2])


__all__ = [
    "close_window",
    "episode_input",
    "episode_text",
    "lock_window",
    "rebuild_episode",
    "recount_window",
    "set_window",
]
