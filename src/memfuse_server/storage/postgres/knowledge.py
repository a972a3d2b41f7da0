"""User-level knowledge: statements posted through the API, searched like M1."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import NotFound
from memfuse_server.models import ItemKind, Knowledge
from memfuse_server.storage.postgres.documents import (
    add_documents,
    bump_memory_version,
    remove_documents,
)
from memfuse_server.storage.postgres.entities import USERS, get_named
from memfuse_server.storage.postgres.rows import to_knowledge

Connection = asyncpg.Connection


async def add_knowledge(
    conn: Connection, user_id: str, contents: Sequence[str], vectors: Vectors, now: datetime
) -> list[str]:
    await get_named(conn, USERS, user_id)
    ids = [str(uuid.uuid4()) for _ in contents]
    await conn.executemany(
        "INSERT INTO knowledge (id, user_id, content, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $4)",
        [(i, user_id, c, now) for i, c in zip(ids, contents, strict=True)],
    )
    items = list(zip(ids, contents, strict=True))
    await add_documents(conn, user_id, ItemKind.KNOWLEDGE, items, vectors)
    await bump_memory_version(conn, user_id)
    return ids


async def list_knowledge(conn: Connection, user_id: str) -> list[Knowledge]:
    rows = await conn.fetch("SELECT * FROM knowledge WHERE user_id = $1 ORDER BY seq", user_id)
    return [to_knowledge(r) for r in rows]


async def read_knowledge(conn: Connection, user_id: str, ids: Sequence[str]) -> list[Knowledge]:
    rows = await conn.fetch(
        "SELECT * FROM knowledge WHERE user_id = $1 AND id = ANY($2::text[])", user_id, list(ids)
    )
    by_id = {r["id"]: to_knowledge(r) for r in rows}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise NotFound(f"Knowledge not found for this user: {', '.join(missing)}.")
    return [by_id[i] for i in ids]


async def update_knowledge(
    conn: Connection,
    user_id: str,
    ids: Sequence[str],
    contents: Sequence[str],
    vectors: Vectors,
    now: datetime,
) -> None:
    await read_knowledge(conn, user_id, ids)
    await remove_documents(conn, user_id, ItemKind.KNOWLEDGE, ids)
    await conn.executemany(
        "UPDATE knowledge SET content = $1, updated_at = $2 WHERE id = $3 AND user_id = $4",
        [(c, now, i, user_id) for i, c in zip(ids, contents, strict=True)],
    )
    items = list(zip(ids, contents, strict=True))
    await add_documents(conn, user_id, ItemKind.KNOWLEDGE, items, vectors)
    await bump_memory_version(conn, user_id)


async def delete_knowledge(conn: Connection, user_id: str, ids: Sequence[str]) -> None:
    await read_knowledge(conn, user_id, ids)
    await remove_documents(conn, user_id, ItemKind.KNOWLEDGE, ids)
    await conn.execute(
        "DELETE FROM knowledge WHERE user_id = $1 AND id = ANY($2::text[])", user_id, list(ids)
    )
    await bump_memory_version(conn, user_id)


__all__ = [
    "add_knowledge",
    "delete_knowledge",
    "list_knowledge",
    "read_knowledge",
    "update_knowledge",
]
