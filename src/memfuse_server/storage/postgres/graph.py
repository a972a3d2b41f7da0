"""M2 graph writes: entities merged through their aliases, relations keyed by content.

Every name an entity goes by is an alias row (its own name included, lower-cased),
so "Mr Okafor" and "Okafor" resolve to one entity once either has been seen with
the other. Relations name their endpoints; an endpoint not yet known is created
as an entity of type ``thing``. Both writes are idempotent.

Entities and relations of one episode are written concurrently (on separate
pooled connections), and both may create the same entity. A transaction that
has to create an entity first takes a per-user, transaction-scoped advisory
lock and looks again, so two writers never make two entities of one name and
never deadlock on alias rows; writes that only find existing entities, writes
of other users, and fact writes run side by side.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from memfuse_server.embeddings.base import Vectors
from memfuse_server.layers.texts import alias_key, entity_text, relation_text
from memfuse_server.models import Entity, EntityType, ItemKind, Relation
from memfuse_server.storage.postgres.documents import (
    add_documents,
    bump_memory_version,
    has_document,
)
from memfuse_server.storage.postgres.facts import existing_messages, link_sources
from memfuse_server.storage.postgres.rows import iso, utc
from memfuse_server.storage.sqlite.facts import content_hash

Connection = asyncpg.Connection


async def lock_graph(conn: Connection, user_id: str) -> None:
    """Serialise this user's graph writes until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 77))", user_id)


async def find_entity(conn: Connection, user_id: str, names: Sequence[str]) -> str | None:
    keys = sorted({alias_key(n) for n in names if n.strip()})
    if not keys:
        return None
    found = await conn.fetchval(
        "SELECT entity_id FROM entity_aliases WHERE user_id = $1 AND alias_key = ANY($2::text[])"
        " LIMIT 1",
        user_id,
        keys,
    )
    return None if found is None else str(found)


async def _add_aliases(
    conn: Connection, user_id: str, entity_id: str, names: Sequence[str]
) -> None:
    rows = [(user_id, alias_key(n), n.strip(), entity_id) for n in names if n.strip()]
    await conn.executemany(
        "INSERT INTO entity_aliases (user_id, alias_key, alias, entity_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        rows,
    )


async def upsert_entity(
    conn: Connection,
    user_id: str,
    entity: Entity,
    vector: Vectors | None,
    now: datetime,
) -> tuple[str, bool]:
    """The id of the entity these names denote, created when none does."""
    names = [entity.name, *entity.aliases]
    entity_id = await find_entity(conn, user_id, names)
    if entity_id is None:  # creating: take the user's graph lock, then look again
        await lock_graph(conn, user_id)
        entity_id = await find_entity(conn, user_id, names)
    created = entity_id is None
    if entity_id is None:
        entity_id = str(uuid.uuid4())
        await conn.execute(
            "INSERT INTO entities (id, user_id, name, type, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $5)",
            entity_id,
            user_id,
            entity.name,
            entity.type.value,
            now,
        )
    elif entity.type is not EntityType.THING:
        # An endpoint first seen in a relation is a "thing" until the entity itself arrives.
        await conn.execute(
            "UPDATE entities SET type = $1, updated_at = $2 WHERE id = $3 AND type = 'thing'",
            entity.type.value,
            now,
            entity_id,
        )
    if vector is not None and (
        created or not await has_document(conn, user_id, ItemKind.ENTITY, entity_id)
    ):
        await add_documents(
            conn, user_id, ItemKind.ENTITY, [(entity_id, entity_text(entity))], vector
        )
    await _add_aliases(conn, user_id, entity_id, names)
    return entity_id, created


async def save_entities(
    conn: Connection,
    user_id: str,
    entities: Sequence[Entity],
    vectors: Vectors,
    now: datetime,
) -> int:
    stored = set(await existing_messages(conn, (m for e in entities for m in e.source_message_ids)))
    new = 0
    for entity, vector in zip(entities, vectors, strict=True):
        sources = sorted(stored.intersection(entity.source_message_ids))
        if not sources:
            continue
        entity_id, created = await upsert_entity(conn, user_id, entity, vector[None, :], now)
        new += created
        await link_sources(conn, "entity_sources", "entity_id", entity_id, sources)
    if new:
        await bump_memory_version(conn, user_id)
    return new


async def _endpoint(conn: Connection, user_id: str, name: str, now: datetime) -> str:
    found = await find_entity(conn, user_id, [name])
    if found is not None:
        return found
    return (await upsert_entity(conn, user_id, Entity(name, EntityType.THING), None, now))[0]


async def _upsert_relation(
    conn: Connection, user_id: str, rel: Relation, vector: Vectors, now: datetime
) -> tuple[str, bool]:
    subject_id = await _endpoint(conn, user_id, rel.subject, now)
    object_id = await _endpoint(conn, user_id, rel.object, now)
    valid = iso(rel.valid_at)
    digest = content_hash(subject_id, rel.predicate, object_id, valid[:10] if valid else None)
    relation_id = str(uuid.uuid4())
    created = await conn.fetchval(
        "INSERT INTO relations (id, user_id, subject_id, predicate, object_id, valid_at, fact,"
        " confidence, content_hash, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"
        " ON CONFLICT (user_id, content_hash) DO NOTHING RETURNING id",
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
    )
    if created is None:
        found = await conn.fetchval(
            "SELECT id FROM relations WHERE user_id = $1 AND content_hash = $2", user_id, digest
        )
        return str(found), False
    text = relation_text(rel.subject, rel.predicate, rel.object)
    await add_documents(conn, user_id, ItemKind.RELATION, [(relation_id, text)], vector[None, :])
    return relation_id, True


async def save_relations(
    conn: Connection,
    user_id: str,
    relations: Sequence[Relation],
    vectors: Vectors,
    now: datetime,
) -> int:
    stored = set(
        await existing_messages(conn, (m for r in relations for m in r.source_message_ids))
    )
    new = 0
    for rel, vector in zip(relations, vectors, strict=True):
        sources = sorted(stored.intersection(rel.source_message_ids))
        if not sources:
            continue
        relation_id, created = await _upsert_relation(conn, user_id, rel, vector, now)
        new += created
        await link_sources(conn, "relation_sources", "relation_id", relation_id, sources)
    if new:
        await bump_memory_version(conn, user_id)
    return new


__all__ = [
    "find_entity",
    "lock_graph",
    "save_entities",
    "save_relations",
    "upsert_entity",
]
