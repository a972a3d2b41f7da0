"""The vectors already stored for what an episode derived, so that only new texts are embedded.

A layer asks before it embeds (``layers/vectors.py``); each item keeps the vector stored
with what it denotes:

- a fact: the fact of the same text (its ``content_hash``);
- an entity: the entity that every one of its names already denotes (its ``alias_key``s),
  when that entity has a vector (an endpoint first seen in a relation has none);
- a relation: the relation of the same ends, predicate and date (its ``content_hash``);
- a message (a source turn): its own vector.

For a fact, an entity or a relation the answer changes nothing a save stores: the save keeps
the row it finds and ignores the vector it is given. Should the row be gone by the time of
the save (deleted in between), the save stores it again with the vector it had.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from memfuse_server.embeddings.base import Vectors
from memfuse_server.layers.texts import alias_key
from memfuse_server.models import Entity, EpisodeMessage, Fact, ItemKind, Relation
from memfuse_server.storage.ops.facts import content_hash
from memfuse_server.storage.ops.graph import relation_digest
from memfuse_server.storage.tx import Tx

Derived = Fact | Entity | Relation | EpisodeMessage
Key = tuple[ItemKind, str]


async def _by_hash(tx: Tx, table: str, user_id: str, digests: Sequence[str]) -> dict[str, str]:
    """content_hash -> id of the user's rows of ``table`` (facts, relations) among these."""
    if not digests:
        return {}
    rows = await tx.fetch(
        f"SELECT content_hash, id FROM {table} WHERE user_id = $1"
        " AND content_hash = ANY($2::text[])",
        user_id,
        sorted(set(digests)),
    )
    return {str(r[0]): str(r[1]) for r in rows}


async def _entity_ids(tx: Tx, user_id: str, names: Iterable[str]) -> dict[str, str]:
    """alias_key -> entity id, for those of the names the user's entities go by."""
    keys = sorted({alias_key(n) for n in names if n.strip()})
    if not keys:
        return {}
    rows = await tx.fetch(
        "SELECT alias_key, entity_id FROM entity_aliases WHERE user_id = $1"
        " AND alias_key = ANY($2::text[])",
        user_id,
        keys,
    )
    return {str(r[0]): str(r[1]) for r in rows}


def _entity_of(entity: Entity, known: dict[str, str]) -> str | None:
    """The one entity all the names denote (None: a name is new, or they denote several)."""
    found = {known.get(alias_key(n)) for n in (entity.name, *entity.aliases) if n.strip()}
    return found.pop() if len(found) == 1 else None


async def _relation_ids(
    tx: Tx, user_id: str, items: Sequence[Derived], known: dict[str, str]
) -> dict[int, str]:
    """index -> id of the relations among ``items`` that are stored (both ends known)."""
    digests: dict[int, str] = {}
    for index, item in enumerate(items):
        if isinstance(item, Relation):
            subject, obj = known.get(alias_key(item.subject)), known.get(alias_key(item.object))
            if subject and obj:
                digests[index] = relation_digest(subject, item, obj)
    found = await _by_hash(tx, "relations", user_id, list(digests.values()))
    return {index: found[d] for index, d in digests.items() if d in found}


async def _keys(tx: Tx, user_id: str, items: Sequence[Derived]) -> list[Key | None]:
    """Each item's stored counterpart (kind, id), where there is one."""
    facts = await _by_hash(
        tx, "facts", user_id, [content_hash(i.text) for i in items if isinstance(i, Fact)]
    )
    names = [n for i in items if isinstance(i, Entity) for n in (i.name, *i.aliases)]
    names += [n for i in items if isinstance(i, Relation) for n in (i.subject, i.object)]
    known = await _entity_ids(tx, user_id, names)
    relations = await _relation_ids(tx, user_id, items, known)

    def key(index: int, item: Derived) -> Key | None:
        if isinstance(item, EpisodeMessage):
            return ItemKind.MESSAGE, item.id
        if isinstance(item, Fact):
            kind, found = ItemKind.FACT, facts.get(content_hash(item.text))
        elif isinstance(item, Entity):
            kind, found = ItemKind.ENTITY, _entity_of(item, known)
        else:
            kind, found = ItemKind.RELATION, relations.get(index)
        return (kind, found) if found else None

    return [key(index, item) for index, item in enumerate(items)]


async def stored_vectors(tx: Tx, user_id: str, items: Sequence[Derived]) -> list[Vectors | None]:
    """Each item's stored vector (see the module docstring); None where none is stored."""
    keys = await _keys(tx, user_id, items)
    wanted: dict[ItemKind, list[str]] = {}
    for key in keys:
        if key is not None:
            wanted.setdefault(key[0], []).append(key[1])
    found = {
        kind: await tx.dialect.item_vectors(tx, user_id, kind, ids) for kind, ids in wanted.items()
    }
    return [None if key is None else found[key[0]].get(key[1]) for key in keys]


__all__ = ["Derived", "stored_vectors"]
