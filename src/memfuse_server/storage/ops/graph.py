"""M2 graph writes: entities merged through their aliases, relations keyed by content.

Every name an entity goes by is an alias row (its own name included, lower-cased),
so "Mr Okafor" and "Okafor" resolve to one entity once either has been seen with
the other. Relations name their endpoints; an endpoint not yet known is created
as an entity of type ``thing``. Both writes are idempotent, and neither brings back
what the user deleted (``ops/forgetting.py``).

Entities and relations of one episode may be written concurrently (on PostgreSQL,
on separate pooled connections), and both may create the same entity. Every graph
write holds the user's memory lock before it reads or writes an entity or an alias
(``ops/locks.py``), so two writers never make two entities of one name and never
wait for each other's alias rows in a circle.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import NamedTuple, Protocol, TypeVar

from memfuse_server.embeddings.base import Vectors
from memfuse_server.layers.texts import alias_key, entity_text, relation_text
from memfuse_server.models import Entity, EntityType, EpisodeMessage, ItemKind, Relation
from memfuse_server.storage.ops.facts import content_hash, insert_each, link_sources
from memfuse_server.storage.ops.forgetting import forgotten, forgotten_names
from memfuse_server.storage.ops.locks import lock_memory
from memfuse_server.storage.ops.rows import iso, utc
from memfuse_server.storage.ops.sources import current_sources
from memfuse_server.storage.ops.validity import RELATIONS, keys_of, settle, source_times
from memfuse_server.storage.ops.version import bump_memory_version
from memfuse_server.storage.tx import Tx
from memfuse_server.validity import ends_value, valid_from

_INSERT_RELATION = """
INSERT INTO relations (id, user_id, subject_id, predicate, object_id, valid_at, fact,
    confidence, content_hash, created_at, updated_at, recorded_at, valid_from, attribute, ends)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10, $11, $12, $13)
ON CONFLICT (user_id, content_hash) DO NOTHING RETURNING id
"""


async def find_entity(tx: Tx, user_id: str, names: Sequence[str]) -> str | None:
    keys = sorted({alias_key(n) for n in names if n.strip()})
    if not keys:
        return None
    found = await tx.fetchval(
        "SELECT entity_id FROM entity_aliases WHERE user_id = $1 AND alias_key = ANY($2::text[])"
        " LIMIT 1",
        user_id,
        keys,
    )
    return None if found is None else str(found)


async def _indexed(tx: Tx, user_id: str, entity_id: str) -> bool:
    found = await tx.fetchval(
        "SELECT 1 FROM documents WHERE user_id = $1 AND kind = $2 AND item_id = $3",
        user_id,
        ItemKind.ENTITY.value,
        entity_id,
    )
    return found is not None


class Upserted(NamedTuple):
    id: str
    created: bool
    changed: bool  # created, or something a query shows changed (a type, an alias)


async def _create_or_type(tx: Tx, user_id: str, entity: Entity, now: datetime) -> Upserted:
    entity_id = await find_entity(tx, user_id, [entity.name, *entity.aliases])
    if entity_id is None:
        entity_id = str(uuid.uuid4())
        await tx.execute(
            "INSERT INTO entities (id, user_id, name, type, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $5)",
            entity_id,
            user_id,
            entity.name,
            entity.type.value,
            now,
        )
        return Upserted(entity_id, True, True)
    retyped = 0
    if entity.type is not EntityType.THING:
        # An endpoint first seen in a relation is a "thing" until the entity itself arrives.
        retyped = await tx.execute(
            "UPDATE entities SET type = $1, updated_at = $2 WHERE id = $3 AND type = 'thing'",
            entity.type.value,
            now,
            entity_id,
        )
    return Upserted(entity_id, False, retyped > 0)


async def upsert_entity(
    tx: Tx, user_id: str, entity: Entity, vector: Vectors | None, now: datetime
) -> Upserted:
    """The entity these names denote, created when none does (the caller holds the user's
    memory lock)."""
    found = await _create_or_type(tx, user_id, entity, now)
    if vector is not None and (found.created or not await _indexed(tx, user_id, found.id)):
        await tx.dialect.add_documents(
            tx, user_id, ItemKind.ENTITY, [(found.id, entity_text(entity))], vector
        )
    names = [entity.name, *entity.aliases]
    aliases = await insert_each(
        tx,
        "INSERT INTO entity_aliases (user_id, alias_key, alias, entity_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        [(user_id, alias_key(n), n.strip(), found.id) for n in names if n.strip()],
    )
    return found._replace(changed=found.changed or aliases > 0)


class _Sourced(Protocol):
    @property
    def source_message_ids(self) -> tuple[str, ...]: ...


S = TypeVar("S", bound=_Sourced)
Upsert = Callable[[Tx, str, S, Vectors, datetime], Awaitable[Upserted | None]]
Settle = Callable[[Tx, str, list[str]], Awaitable[int]]


async def _save(
    tx: Tx,
    user_id: str,
    items: Sequence[S],
    vectors: Vectors,
    now: datetime,
    upsert: Upsert[S],
    sources: tuple[str, str],
    read: Sequence[EpisodeMessage] | None,
    settle_ids: Settle | None = None,
) -> int:
    """Upsert each item whose source messages are still stored (and as ``read``, when
    given), link it to them, then let ``settle_ids`` recompute their timelines; how many were
    new. Any change a query shows (a new item, a new source, type or alias of a known one, a
    timeline that moved) bumps the user's memory version."""
    stored = await current_sources(tx, (m for i in items for m in i.source_message_ids), read)
    if not stored:
        return 0
    await lock_memory(tx, [user_id])
    new = changed = 0
    saved: list[str] = []
    for item, vector in zip(items, vectors, strict=True):
        found = sorted(stored.intersection(item.source_message_ids))
        if found:
            done = await upsert(tx, user_id, item, vector[None, :], now)
            if done is None:  # the user deleted it: ops/forgetting.py
                continue
            new += done.created
            saved.append(done.id)
            changed += done.changed + await link_sources(tx, *sources, done.id, found)
    if settle_ids:
        changed += await settle_ids(tx, user_id, saved)
    if changed:
        await bump_memory_version(tx, user_id)
    return new


async def save_entities(
    tx: Tx,
    user_id: str,
    entities: Sequence[Entity],
    vectors: Vectors,
    now: datetime,
    read: Sequence[EpisodeMessage] | None = None,
) -> int:
    sources = ("entity_sources", "entity_id")
    return await _save(tx, user_id, entities, vectors, now, _upsert_named, sources, read)


async def _upsert_named(
    tx: Tx, user_id: str, entity: Entity, vector: Vectors, now: datetime
) -> Upserted | None:
    """``upsert_entity``, unless the user deleted an entity of one of these names."""
    if await forgotten_names(tx, user_id, [entity.name, *entity.aliases]):
        return None
    return await upsert_entity(tx, user_id, entity, vector, now)


async def _endpoint(tx: Tx, user_id: str, name: str, now: datetime) -> Upserted:
    found = await find_entity(tx, user_id, [name])
    if found is not None:
        return Upserted(found, False, False)
    return await upsert_entity(tx, user_id, Entity(name, EntityType.THING), None, now)


def relation_digest(subject_id: str, rel: Relation, object_id: str) -> str:
    """The key of "the same" relation: its ends' entities, predicate, date and ending."""
    valid = iso(rel.valid_at)
    ended = ("ends",) if rel.ends else ()
    return content_hash(subject_id, rel.predicate, object_id, valid[:10] if valid else None, *ended)


async def _forgotten_relation(tx: Tx, user_id: str, rel: Relation) -> bool:
    """Whether the user deleted this relation, or an entity it names (``ops/forgetting.py``)."""
    if await forgotten_names(tx, user_id, [rel.subject, rel.object]):
        return True
    ends = [await find_entity(tx, user_id, [n]) for n in (rel.subject, rel.object)]
    if ends[0] is None or ends[1] is None:  # an entity not stored: a relation never deleted
        return False
    return bool(
        await forgotten(tx, user_id, ItemKind.RELATION, [relation_digest(ends[0], rel, ends[1])])
    )


async def _upsert_relation(
    tx: Tx, user_id: str, rel: Relation, vector: Vectors, now: datetime
) -> Upserted | None:
    if await _forgotten_relation(tx, user_id, rel):
        return None
    subject, object_ = [await _endpoint(tx, user_id, n, now) for n in (rel.subject, rel.object)]
    subject_id, object_id = subject.id, object_.id
    endpoints = subject.changed or object_.changed
    digest = relation_digest(subject_id, rel, object_id)
    relation_id = str(uuid.uuid4())
    created = await tx.fetchval(
        _INSERT_RELATION,
        relation_id,
        user_id,
        subject_id,
        rel.predicate,
        object_id,
        utc(rel.valid_at) if rel.valid_at else None,
        rel.fact,
        rel.confidence,
        digest,
        now,
        *await _validity(tx, rel, now),
    )
    if created is None:
        found = await tx.fetchval(
            "SELECT id FROM relations WHERE user_id = $1 AND content_hash = $2", user_id, digest
        )
        return Upserted(str(found), False, endpoints)
    text = relation_text(rel.subject, rel.predicate, rel.object, ends=rel.ends)
    await tx.dialect.add_documents(tx, user_id, ItemKind.RELATION, [(relation_id, text)], vector)
    return Upserted(relation_id, True, True)


async def _validity(tx: Tx, rel: Relation, now: datetime) -> tuple[object, ...]:
    """valid_from (stated, or when its first source was said), attribute, ends."""
    said = await source_times(tx, rel.source_message_ids)
    first = min(said.values(), default=now)
    stated = utc(rel.valid_at) if rel.valid_at else None
    start = valid_from(stated, first, stateful=rel.attribute is not None)
    return start, rel.attribute, rel.attribute is not None and ends_value(rel.predicate, rel.ends)


async def save_relations(
    tx: Tx,
    user_id: str,
    relations: Sequence[Relation],
    vectors: Vectors,
    now: datetime,
    read: Sequence[EpisodeMessage] | None = None,
) -> int:
    """Relations not seen before, sources linked to all; the timelines they join settled."""
    sources = ("relation_sources", "relation_id")
    return await _save(
        tx, user_id, relations, vectors, now, _upsert_relation, sources, read, _settle_relations
    )


async def _settle_relations(tx: Tx, user_id: str, ids: list[str]) -> int:
    return await settle(tx, RELATIONS, user_id, await keys_of(tx, RELATIONS, ids))


__all__ = [
    "Upserted",
    "find_entity",
    "relation_digest",
    "save_entities",
    "save_relations",
    "upsert_entity",
]
