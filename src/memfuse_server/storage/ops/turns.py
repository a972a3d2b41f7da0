"""Turns for ranking: the messages behind the candidates, with who said them, when, and
their vectors, so that ``retrieval/`` can say which of a hit's turns carry a match."""

from __future__ import annotations

from collections.abc import Sequence

from memfuse_server.models import ItemKind, Turn
from memfuse_server.storage.ops.rows import dt
from memfuse_server.storage.tx import Tx


async def turns(tx: Tx, user_id: str, message_ids: Sequence[str]) -> list[Turn]:
    """These messages of the user (those that exist), in time order."""
    if not message_ids:
        return []
    rows = await tx.fetch(
        "SELECT id, session_id, name, role, content, created_at FROM messages"
        " WHERE user_id = $1 AND id = ANY($2::text[]) ORDER BY created_at, seq",
        user_id,
        list(message_ids),
    )
    vectors = await tx.dialect.item_vectors(tx, user_id, ItemKind.MESSAGE, message_ids)
    return [
        Turn(
            r["id"],
            r["session_id"],
            r["name"] or r["role"],
            r["content"],
            dt(r["created_at"]),
            vectors.get(r["id"]),
        )
        for r in rows
    ]


async def speakers_named(tx: Tx, user_id: str, names: Sequence[str]) -> list[str]:
    """Which of ``names`` are speakers (the ``name`` of a message) of the user."""
    if not names:
        return []
    rows = await tx.fetch(
        "SELECT DISTINCT name FROM messages WHERE user_id = $1 AND name = ANY($2::text[])",
        user_id,
        list(names),
    )
    return sorted(str(r[0]) for r in rows)


__all__ = ["speakers_named", "turns"]
