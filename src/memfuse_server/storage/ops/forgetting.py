"""Derived memory a user deleted: removed now, and not derived again.

Facts, entities and relations come from the extractors; deleting one only removes the row,
and the next processing of its episode (an edit of one of its turns, a retried or re-driven
job) would extract it again. So a deletion also records a tombstone, per user, keyed by what
the extractor would produce again, and the saves (``facts.save_facts``,
``graph.save_entities`` / ``save_relations``) skip what a tombstone names:

- a fact: its ``content_hash`` (the same statement, case and spacing folded);
- a relation: its ``content_hash`` (subject entity, predicate, object entity, date);
- an entity: the ``alias_key`` of its name and of each alias: an entity extracted again under
  any name it went by is skipped, and so is a relation naming it.

Tombstones go with their user. Both the deletion and the saves hold the user's memory lock
(``ops/locks.py``), so a job saving what it extracted either commits before the deletion
(which then removes it) or sees the tombstone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from memfuse_server.errors import NotFound
from memfuse_server.layers.texts import alias_key, relation_text
from memfuse_server.models import ItemKind
from memfuse_server.storage.ops.locks import lock_memory
from memfuse_server.storage.ops.removal import delete_items
from memfuse_server.storage.ops.version import bump_memory_version
from memfuse_server.storage.tx import Row, Tx
from memfuse_server.validity import ends_value

TABLES = {ItemKind.FACT: "facts", ItemKind.ENTITY: "entities", ItemKind.RELATION: "relations"}
_NOUNS = {ItemKind.FACT: "Fact", ItemKind.ENTITY: "Entity", ItemKind.RELATION: "Relation"}

# (item id, tombstone key, what the item read) of the items to delete, one query per kind
_STONES = {
    ItemKind.FACT: "SELECT id, content_hash, content FROM facts"
    " WHERE user_id = $1 AND id = ANY($2::text[])",
    ItemKind.RELATION: "SELECT r.id, r.content_hash, s.name, r.predicate, o.name, r.ends"
    " FROM relations r"
    " JOIN entities s ON s.id = r.subject_id JOIN entities o ON o.id = r.object_id"
    " WHERE r.user_id = $1 AND r.id = ANY($2::text[])",
    ItemKind.ENTITY: "SELECT e.id, a.alias_key, e.name FROM entities e"
    " LEFT JOIN entity_aliases a ON a.entity_id = e.id"
    " WHERE e.user_id = $1 AND e.id = ANY($2::text[])",
}

_RECORD = (
    "INSERT INTO forgotten (user_id, kind, key, content, created_at)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
)


def _content(kind: ItemKind, row: Row) -> str:
    if kind is not ItemKind.RELATION:
        return str(row[2])
    negated = bool(row[5]) and not ends_value(row[3], False)  # as ops/resolve.py reads it
    return relation_text(row[2], row[3], row[4], ends=negated)


async def _tombstones(
    tx: Tx, user_id: str, kind: ItemKind, ids: Sequence[str]
) -> set[tuple[str, str]]:
    """The (key, content) tombstones of these items; ``NotFound`` names one the user lacks."""
    rows = await tx.fetch(_STONES[kind], user_id, list(ids))
    found = {str(r[0]) for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"{_NOUNS[kind]} {missing[0]} not found for this user.")
    stones = {(str(r[1]), _content(kind, r)) for r in rows if r[1] is not None}
    if kind is ItemKind.ENTITY:  # its own name, even if another entity held that alias
        stones.update((alias_key(str(r[2])), str(r[2])) for r in rows if str(r[2]).strip())
    return stones


async def forget_items(
    tx: Tx, user_id: str, kind: ItemKind, ids: Sequence[str], now: datetime
) -> None:
    """Delete the user's facts, entities or relations (an entity takes its relations along)
    and record what the extractor must not bring back."""
    if kind not in TABLES:
        raise ValueError(f"{kind.value} is not derived memory")
    await lock_memory(tx, [user_id])
    stones = await _tombstones(tx, user_id, kind, ids)
    await tx.executemany(
        _RECORD, [(user_id, kind.value, key, content, now) for key, content in sorted(stones)]
    )
    await delete_items(tx, user_id, kind, TABLES[kind], list(ids))
    await bump_memory_version(tx, user_id)


async def forgotten(tx: Tx, user_id: str, kind: ItemKind, keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` the user deleted an item of this kind by."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    rows = await tx.fetch(
        "SELECT key FROM forgotten WHERE user_id = $1 AND kind = $2 AND key = ANY($3::text[])",
        user_id,
        kind.value,
        wanted,
    )
    return {str(r[0]) for r in rows}


async def forgotten_names(tx: Tx, user_id: str, names: Iterable[str]) -> bool:
    """Whether any of these names is one of a deleted entity."""
    keys = [alias_key(n) for n in names if n.strip()]
    return bool(await forgotten(tx, user_id, ItemKind.ENTITY, keys))


__all__ = ["TABLES", "forget_items", "forgotten", "forgotten_names"]
