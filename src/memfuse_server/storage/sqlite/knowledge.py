"""User-level knowledge: statements posted through the API, searched like M1."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime

from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import NotFound
from memfuse_server.models import ItemKind, Knowledge
from memfuse_server.storage.sqlite.documents import (
    Changes,
    add_documents,
    bump_memory_version,
    remove_documents,
)
from memfuse_server.storage.sqlite.rows import param_marks, to_knowledge, ts


def add_knowledge(
    conn: sqlite3.Connection, user_id: str, contents: Sequence[str], vectors: Vectors, now: datetime
) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in contents]
    conn.executemany(
        "INSERT INTO knowledge (id, user_id, content, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(i, user_id, c, ts(now), ts(now)) for i, c in zip(ids, contents, strict=True)],
    )
    add_documents(conn, user_id, ItemKind.KNOWLEDGE, list(zip(ids, contents, strict=True)), vectors)
    bump_memory_version(conn, user_id)
    return ids


def list_knowledge(conn: sqlite3.Connection, user_id: str) -> list[Knowledge]:
    rows = conn.execute("SELECT * FROM knowledge WHERE user_id = ? ORDER BY seq", (user_id,))
    return [to_knowledge(r) for r in rows]


def read_knowledge(conn: sqlite3.Connection, user_id: str, ids: Sequence[str]) -> list[Knowledge]:
    rows = conn.execute(
        f"SELECT * FROM knowledge WHERE user_id = ? AND id IN ({param_marks(len(ids))})",
        (user_id, *ids),
    ).fetchall()
    by_id = {r["id"]: to_knowledge(r) for r in rows}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise NotFound(f"Knowledge not found for this user: {', '.join(missing)}.")
    return [by_id[i] for i in ids]


def update_knowledge(
    conn: sqlite3.Connection,
    user_id: str,
    ids: Sequence[str],
    contents: Sequence[str],
    vectors: Vectors,
    now: datetime,
    changes: Changes,
) -> None:
    read_knowledge(conn, user_id, ids)
    remove_documents(conn, user_id, ItemKind.KNOWLEDGE, ids, changes)
    conn.executemany(
        "UPDATE knowledge SET content = ?, updated_at = ? WHERE id = ?",
        [(c, ts(now), i) for i, c in zip(ids, contents, strict=True)],
    )
    add_documents(conn, user_id, ItemKind.KNOWLEDGE, list(zip(ids, contents, strict=True)), vectors)
    bump_memory_version(conn, user_id)


def delete_knowledge(
    conn: sqlite3.Connection, user_id: str, ids: Sequence[str], changes: Changes
) -> None:
    read_knowledge(conn, user_id, ids)
    remove_documents(conn, user_id, ItemKind.KNOWLEDGE, ids, changes)
    conn.execute(f"DELETE FROM knowledge WHERE id IN ({param_marks(len(ids))})", list(ids))
    bump_memory_version(conn, user_id)


__all__ = [
    "add_knowledge",
    "delete_knowledge",
    "list_knowledge",
    "read_knowledge",
    "update_knowledge",
]
