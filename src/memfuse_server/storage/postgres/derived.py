"""Forgetting what was derived from messages that are edited or deleted.

Facts, relations and entities keep the ids of the messages they came from.
When messages go (or change), their provenance rows go; an item left with no
source at all is deleted with its search rows. Relations of a deleted entity
go with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from memfuse_server.models import ItemKind
from memfuse_server.storage.postgres.documents import remove_documents

Connection = asyncpg.Connection

# (kind, item table, provenance table, provenance column)
_DERIVED = (
    (ItemKind.FACT, "facts", "fact_sources", "fact_id"),
    (ItemKind.RELATION, "relations", "relation_sources", "relation_id"),
    (ItemKind.ENTITY, "entities", "entity_sources", "entity_id"),
)


async def _orphans(
    conn: Connection, sources: str, column: str, message_ids: Sequence[str]
) -> list[str]:
    """Drop the provenance rows of these messages; the items left without any source."""
    rows = await conn.fetch(
        f"DELETE FROM {sources} WHERE message_id = ANY($1::text[]) RETURNING {column}",
        list(message_ids),
    )
    touched = sorted({r[0] for r in rows})
    if not touched:
        return []
    left = {
        r[0]
        for r in await conn.fetch(
            f"SELECT DISTINCT {column} FROM {sources} WHERE {column} = ANY($1::text[])", touched
        )
    }
    return [item for item in touched if item not in left]


async def delete_items(
    conn: Connection, user_id: str, kind: ItemKind, table: str, ids: Sequence[str]
) -> None:
    """Delete derived items and their search rows (an entity takes its relations along)."""
    if not ids:
        return
    if kind is ItemKind.ENTITY:
        linked = [
            r[0]
            for r in await conn.fetch(
                "SELECT id FROM relations WHERE subject_id = ANY($1::text[])"
                " OR object_id = ANY($1::text[])",
                list(ids),
            )
        ]
        await delete_items(conn, user_id, ItemKind.RELATION, "relations", linked)
    await remove_documents(conn, user_id, kind, ids)
    await conn.execute(f"DELETE FROM {table} WHERE id = ANY($1::text[])", list(ids))


async def forget_messages(conn: Connection, user_id: str, message_ids: Sequence[str]) -> None:
    """Drop these messages' provenance and every derived item left without a source."""
    if not message_ids:
        return
    for kind, table, sources, column in _DERIVED:
        orphans = await _orphans(conn, sources, column, message_ids)
        await delete_items(conn, user_id, kind, table, orphans)


__all__ = ["delete_items", "forget_messages"]
