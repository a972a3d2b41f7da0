"""User-level knowledge: statements posted through the API, searched like M1."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import ItemKind, Knowledge
from memfuse_server.storage.ops.entities import USERS, get_named
from memfuse_server.storage.ops.rows import in_order, to_knowledge
from memfuse_server.storage.ops.version import bump_memory_version
from memfuse_server.storage.tx import Tx


async def add_knowledge(
    tx: Tx, user_id: str, contents: Sequence[str], vectors: Vectors, now: datetime
) -> list[str]:
    await get_named(tx, USERS, user_id)
    ids = [str(uuid.uuid4()) for _ in contents]
    await tx.executemany(
        "INSERT INTO knowledge (id, user_id, content, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $4)",
        [(i, user_id, c, now) for i, c in zip(ids, contents, strict=True)],
    )
    items = list(zip(ids, contents, strict=True))
    await tx.dialect.add_documents(tx, user_id, ItemKind.KNOWLEDGE, items, vectors)
    await bump_memory_version(tx, user_id)
    return ids


async def list_knowledge(tx: Tx, user_id: str) -> list[Knowledge]:
    rows = await tx.fetch("SELECT * FROM knowledge WHERE user_id = $1 ORDER BY seq", user_id)
    return [to_knowledge(r) for r in rows]


async def read_knowledge(tx: Tx, user_id: str, ids: Sequence[str]) -> list[Knowledge]:
    rows = await tx.fetch(
        "SELECT * FROM knowledge WHERE user_id = $1 AND id = ANY($2::text[])", user_id, list(ids)
    )
    by_id = {r["id"]: to_knowledge(r) for r in rows}
    return in_order(by_id, ids, "Knowledge not found for this user")


async def update_knowledge(
    tx: Tx,
    user_id: str,
    ids: Sequence[str],
    contents: Sequence[str],
    vectors: Vectors,
    now: datetime,
) -> None:
    await read_knowledge(tx, user_id, ids)
    await tx.dialect.remove_documents(tx, user_id, ItemKind.KNOWLEDGE, ids)
    await tx.executemany(
        "UPDATE knowledge SET content = $1, updated_at = $2 WHERE id = $3 AND user_id = $4",
        [(c, now, i, user_id) for i, c in zip(ids, contents, strict=True)],
    )
    items = list(zip(ids, contents, strict=True))
    await tx.dialect.add_documents(tx, user_id, ItemKind.KNOWLEDGE, items, vectors)
    await bump_memory_version(tx, user_id)


async def delete_knowledge(tx: Tx, user_id: str, ids: Sequence[str]) -> None:
    await read_knowledge(tx, user_id, ids)
    await tx.dialect.remove_documents(tx, user_id, ItemKind.KNOWLEDGE, ids)
    await tx.execute(
        "DELETE FROM knowledge WHERE user_id = $1 AND id = ANY($2::text[])", user_id, list(ids)
    )
    await bump_memory_version(tx, user_id)


__all__ = [
    "add_knowledge",
    "delete_knowledge",
    "list_knowledge",
    "read_knowledge",
    "update_knowledge",
]
