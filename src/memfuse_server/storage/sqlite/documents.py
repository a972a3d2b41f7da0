"""Search documents: one vector row and one full-text row per searchable item.

Every searchable item (a message, an episode chunk, a knowledge entry) is
written here in the same transaction as the item itself, and removed with it.
``Changes`` collects what a transaction removed, so the in-process vector
index can follow once the transaction has committed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import ItemKind
from memfuse_server.storage.sqlite.rows import param_marks


@dataclass
class Changes:
    """Effects of one write transaction that matter after it commits."""

    removed: dict[str, set[int]] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=dict)


def owner_token(user_id: str) -> str:
    """The FTS token that scopes a full-text row to its user."""
    return "u" + user_id.replace("-", "")


def add_documents(
    conn: sqlite3.Connection,
    user_id: str,
    kind: ItemKind,
    items: Sequence[tuple[str, str]],
    vectors: Vectors,
) -> None:
    """Index ``(item_id, text)`` pairs with their vectors (rows of ``vectors``)."""
    owner = owner_token(user_id)
    for (item_id, text), vector in zip(items, vectors, strict=True):
        cur = conn.execute(
            "INSERT INTO documents (user_id, kind, item_id, vector) VALUES (?, ?, ?, ?)",
            (user_id, kind.value, item_id, np.asarray(vector, dtype=np.float32).tobytes()),
        )
        conn.execute(
            "INSERT INTO documents_fts (rowid, body, owner) VALUES (?, ?, ?)",
            (cur.lastrowid, text, owner),
        )


def remove_documents(
    conn: sqlite3.Connection,
    user_id: str,
    kind: ItemKind,
    item_ids: Sequence[str],
    changes: Changes,
) -> None:
    """Remove the documents of these items, recording the removal in ``changes``."""
    if not item_ids:
        return
    rows = conn.execute(
        f"SELECT seq FROM documents WHERE kind = ? AND item_id IN ({param_marks(len(item_ids))})",
        (kind.value, *item_ids),
    ).fetchall()
    seqs = [int(r[0]) for r in rows]
    if not seqs:
        return
    marks = param_marks(len(seqs))
    conn.execute(f"DELETE FROM documents_fts WHERE rowid IN ({marks})", seqs)
    conn.execute(f"DELETE FROM documents WHERE seq IN ({marks})", seqs)
    epoch = conn.execute(
        "UPDATE users SET removal_epoch = removal_epoch + 1 WHERE id = ? RETURNING removal_epoch",
        (user_id,),
    ).fetchone()[0]
    changes.removed.setdefault(user_id, set()).update(seqs)
    changes.epochs[user_id] = int(epoch)


def item_vectors(conn: sqlite3.Connection, kind: ItemKind, item_ids: Sequence[str]) -> Vectors:
    """The stored vectors of these items (those that have one), as a matrix."""
    if not item_ids:
        return np.zeros((0, 0), dtype=np.float32)
    rows = conn.execute(
        f"SELECT vector FROM documents WHERE kind = ? AND item_id IN ({param_marks(len(item_ids))})",
        (kind.value, *item_ids),
    ).fetchall()
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows])


def bump_memory_version(conn: sqlite3.Connection, user_id: str) -> None:
    conn.execute("UPDATE users SET memory_version = memory_version + 1 WHERE id = ?", (user_id,))


__all__ = [
    "Changes",
    "add_documents",
    "bump_memory_version",
    "item_vectors",
    "owner_token",
    "remove_documents",
]
