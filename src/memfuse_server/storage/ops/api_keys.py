"""API keys: stored as SHA-256 hashes, each bound to one user."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from memfuse_server.errors import Conflict, NotFound
from memfuse_server.models import ApiKey
from memfuse_server.storage.ops.rows import to_api_key, utc
from memfuse_server.storage.tx import Tx

# One refusal whatever the reason, naming nothing of the key that has the string already.
KEY_TAKEN = "This key cannot be used: choose another key, or leave out 'key' to have one made."


async def create_api_key(
    tx: Tx,
    user_id: str,
    name: str | None,
    key_hash: str,
    permissions: Sequence[str],
    expires_at: datetime | None,
    now: datetime,
) -> ApiKey:
    if await tx.fetchval("SELECT 1 FROM users WHERE id = $1", user_id) is None:
        raise NotFound(f"User {user_id} not found.")
    try:
        row = await tx.fetchrow(
            "INSERT INTO api_keys (id, user_id, name, key_hash, permissions, created_at,"
            " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
            str(uuid.uuid4()),
            user_id,
            name,
            key_hash,
            list(permissions),
            now,
            utc(expires_at) if expires_at else None,
        )
    except tx.dialect.duplicate as exc:  # the only unique key a new row can hit: key_hash
        raise Conflict(KEY_TAKEN) from exc
    assert row is not None
    return to_api_key(row)


async def list_api_keys(tx: Tx, user_id: str) -> list[ApiKey]:
    rows = await tx.fetch(
        "SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at, id", user_id
    )
    return [to_api_key(r) for r in rows]


async def delete_api_key(tx: Tx, user_id: str, key_id: str) -> None:
    if not await tx.execute("DELETE FROM api_keys WHERE id = $1 AND user_id = $2", key_id, user_id):
        raise NotFound(f"API key {key_id} not found for user {user_id}.")


async def find_api_key(tx: Tx, key_hash: str) -> ApiKey | None:
    row = await tx.fetchrow("SELECT * FROM api_keys WHERE key_hash = $1", key_hash)
    return None if row is None else to_api_key(row)


__all__ = ["KEY_TAKEN", "create_api_key", "delete_api_key", "find_api_key", "list_api_keys"]
