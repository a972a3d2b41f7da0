"""Search documents: one row per searchable item with its vector and its tsvector.

Every searchable item (a message, an episode chunk, a knowledge entry, a fact,
an entity, a relation) is written here in the same transaction as the item
itself, and removed with it. pgvector's HNSW indexes and the GIN index follow
the table transactionally, so there is no in-process index to keep in step
(unlike SQLite's ``VectorIndex``). The full-text row lives in ``document_texts``
(same ``seq``), removed with its document by the foreign key.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import numpy as np

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import ItemKind

Connection = asyncpg.Connection
TEXT_CONFIG = "english"  # stemming (like SQLite's porter tokenizer) and stopwords

_INSERT = f"""
WITH doc AS (
    INSERT INTO documents (user_id, kind, item_id, embedding) VALUES ($1, $2, $3, $4)
    RETURNING seq
)
INSERT INTO document_texts (seq, user_id, kind, body)
SELECT seq, $1, $2, to_tsvector('{TEXT_CONFIG}', $5) FROM doc
"""


async def add_documents(
    conn: Connection,
    user_id: str,
    kind: ItemKind,
    items: Sequence[tuple[str, str]],
    vectors: Vectors,
) -> None:
    """Index ``(item_id, text)`` pairs with their vectors (rows of ``vectors``)."""
    if not items:
        return
    rows = [
        (user_id, kind.value, item_id, np.asarray(vector, dtype=np.float32), text)
        for (item_id, text), vector in zip(items, vectors, strict=True)
    ]
    if len(rows) == 1:
        await conn.execute(_INSERT, *rows[0])
    else:
        await conn.executemany(_INSERT, rows)


async def remove_documents(
    conn: Connection, user_id: str, kind: ItemKind, item_ids: Sequence[str]
) -> None:
    """Remove the documents of these items (of this user)."""
    if item_ids:
        await conn.execute(
            "DELETE FROM documents WHERE user_id = $1 AND kind = $2 AND item_id = ANY($3::text[])",
            user_id,
            kind.value,
            list(item_ids),
        )


async def item_vectors(
    conn: Connection, user_id: str, kind: ItemKind, item_ids: Sequence[str]
) -> Vectors:
    """The stored vectors of these items (those that have one), as a matrix."""
    if not item_ids:
        return np.zeros((0, 0), dtype=np.float32)
    rows = await conn.fetch(
        "SELECT embedding FROM documents WHERE user_id = $1 AND kind = $2"
        " AND item_id = ANY($3::text[])",
        user_id,
        kind.value,
        list(item_ids),
    )
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([r[0].to_numpy() for r in rows]).astype(np.float32)


async def has_document(conn: Connection, user_id: str, kind: ItemKind, item_id: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM documents WHERE user_id = $1 AND kind = $2 AND item_id = $3",
        user_id,
        kind.value,
        item_id,
    )
    return found is not None


async def bump_memory_version(conn: Connection, user_id: str) -> None:
    """Invalidate every process's cached queries of this user (call last: it locks the user row)."""
    await conn.execute(
        "UPDATE users SET memory_version = memory_version + 1 WHERE id = $1", user_id
    )


__all__ = [
    "TEXT_CONFIG",
    "add_documents",
    "bump_memory_version",
    "has_document",
    "item_vectors",
    "remove_documents",
]
