"""Forgetting what was derived from messages that are edited or deleted.

Facts, relations and entities keep the ids of the messages they came from.
When messages go (or change), their provenance rows go; an item left with no
source at all is deleted with its search rows. Relations of a deleted entity
go with it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from memfuse_server.models import ItemKind
from memfuse_server.storage.sqlite.documents import Changes, remove_documents
from memfuse_server.storage.sqlite.rows import param_marks

# (kind, item table, provenance table, provenance column)
_DERIVED = (
    (ItemKind.FACT, "facts", "fact_sources", "fact_id"),
    (ItemKind.RELATION, "relations", "relation_sources", "relation_id"),
    (ItemKind.ENTITY, "entities", "entity_sources", "entity_id"),
)


def _orphans(
    conn: sqlite3.Connection, sources: str, column: str, message_ids: Sequence[str]
) -> list[str]:
    marks = param_marks(len(message_ids))
    touched = [
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT {column} FROM {sources} WHERE message_id IN ({marks})",
            list(message_ids),
        )
    ]
    conn.execute(f"DELETE FROM {sources} WHERE message_id IN ({marks})", list(message_ids))
    if not touched:
        return []
    left = {
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT {column} FROM {sources} WHERE {column} IN ({param_marks(len(touched))})",
            touched,
        )
    }
    return [item for item in touched if item not in left]


def delete_items(
    conn: sqlite3.Connection,
    user_id: str,
    kind: ItemKind,
    table: str,
    ids: Sequence[str],
    changes: Changes,
) -> None:
    """Delete derived items and their search rows (an entity takes its relations along)."""
    if not ids:
        return
    marks = param_marks(len(ids))
    if kind is ItemKind.ENTITY:
        linked = [
            r[0]
            for r in conn.execute(
                f"SELECT id FROM relations WHERE subject_id IN ({marks}) OR object_id IN ({marks})",
                [*ids, *ids],
            )
        ]
        delete_items(conn, user_id, ItemKind.RELATION, "relations", linked, changes)
    remove_documents(conn, user_id, kind, ids, changes)
    conn.execute(f"DELETE FROM {table} WHERE id IN ({marks})", list(ids))


def forget_messages(
    conn: sqlite3.Connection, user_id: str, message_ids: Sequence[str], changes: Changes
) -> None:
    """Drop these messages' provenance and every derived item left without a source."""
    if not message_ids:
        return
    for kind, table, sources, column in _DERIVED:
        orphans = _orphans(conn, sources, column, message_ids)
        delete_items(conn, user_id, kind, table, orphans, changes)


__all__ = ["delete_items", "forget_messages"]
