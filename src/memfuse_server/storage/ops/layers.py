"""Inspecting M1 and M2: pages of a user's facts, entities and relations, and an entity's
neighbourhood."""

from __future__ import annotations

from datetime import datetime

from memfuse_server.models import JSON, ItemKind, MemoryItem
from memfuse_server.storage.ops.resolve import (
    RESOLVERS,
    resolve_entities,
    resolve_facts,
    resolve_relations,
)
from memfuse_server.storage.ops.search import facts_naming
from memfuse_server.storage.tx import Tx

_TABLES = {ItemKind.FACT: "facts", ItemKind.ENTITY: "entities", ItemKind.RELATION: "relations"}


_HOLDING = (
    " AND (valid_from IS NULL OR valid_from <= $4) AND (valid_until IS NULL OR valid_until > $4)"
)


async def list_items(
    tx: Tx, user_id: str, kind: ItemKind, limit: int, offset: int, moment: datetime | None = None
) -> list[MemoryItem]:
    """A page of the user's facts, entities or relations, newest first; with ``moment``,
    only the facts and relations that held then (entities have no validity)."""
    timed = moment is not None and kind is not ItemKind.ENTITY
    ids = [
        r[0]
        for r in await tx.fetch(
            f"SELECT id FROM {_TABLES[kind]} WHERE user_id = $1{_HOLDING if timed else ''}"
            " ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
            user_id,
            limit,
            offset,
            *([moment] if timed else []),
        )
    ]
    if not ids:
        return []
    by_id = {item.id: item for item in await RESOLVERS[kind](tx, user_id, ids)}
    return [by_id[i] for i in ids if i in by_id]


async def neighbourhood(tx: Tx, user_id: str, entity_id: str, limit: int) -> JSON | None:
    """An entity with its relations (both directions), neighbours and facts naming it."""
    entities = await resolve_entities(tx, user_id, [entity_id])
    if not entities:
        return None
    rel_ids = [
        r[0]
        for r in await tx.fetch(
            "SELECT id FROM relations WHERE user_id = $1 AND (subject_id = $2 OR object_id = $2)"
            " ORDER BY created_at LIMIT $3",
            user_id,
            entity_id,
            limit,
        )
    ]
    relations = await resolve_relations(tx, user_id, rel_ids) if rel_ids else []
    fact_ids = [h.item_id for h in await facts_naming(tx, user_id, [entity_id], limit)]
    facts = await resolve_facts(tx, user_id, fact_ids) if fact_ids else []
    return {"entity": entities[0], "relations": relations, "facts": facts}


__all__ = ["list_items", "neighbourhood"]
