"""API keys: stored as SHA-256 hashes, each bound to one user."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime

import orjson

from memfuse_server.errors import NotFound
from memfuse_server.models import ApiKey
from memfuse_server.storage.sqlite.rows import dt, ts


def _to_key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        permissions=tuple(orjson.loads(row["permissions"])),
        created_at=dt(row["created_at"]),
        expires_at=dt(row["expires_at"]) if row["expires_at"] else None,
    )


def create_api_key(
    conn: sqlite3.Connection,
    user_id: str,
    name: str | None,
    key_hash: str,
    permissions: Sequence[str],
    expires_at: datetime | None,
    now: datetime,
) -> ApiKey:
    if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
        raise NotFound(f"User {user_id} not found.")
    key_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO api_keys (id, user_id, name, key_hash, permissions, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            key_id,
            user_id,
            name,
            key_hash,
            orjson.dumps(list(permissions)).decode(),
            ts(now),
            ts(expires_at) if expires_at else None,
        ),
    )
    row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    return _to_key(row)


def list_api_keys(conn: sqlite3.Connection, user_id: str) -> list[ApiKey]:
    rows = conn.execute(
        "SELECT * FROM api_keys WHERE user_id = ? ORDER BY created_at, id", (user_id,)
    )
    return [_to_key(r) for r in rows]


def delete_api_key(conn: sqlite3.Connection, user_id: str, key_id: str) -> None:
    cur = conn.execute("DELETE FROM api_keys WHERE id = ? AND user_id = ?", (key_id, user_id))
    if cur.rowcount == 0:
        raise NotFound(f"API key {key_id} not found for user {user_id}.")


def find_api_key(conn: sqlite3.Connection, key_hash: str) -> ApiKey | None:
    row = conn.execute("SELECT * FROM api_keys WHERE key_hash = ?", (key_hash,)).fetchone()
    return None if row is None else _to_key(row)


__all__ = ["create_api_key", "delete_api_key", "find_api_key", "list_api_keys"]
