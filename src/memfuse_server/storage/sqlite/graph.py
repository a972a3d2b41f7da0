"""M2 graph writes: entities merged through their aliases, relations keyed by content.

Every name an entity goes by is an alias row (its own name included, lower-cased),
so "Mr Okafor" and "Okafor" resolve to one entity once either has been seen with
the other. Relations name their endpoints; an endpoint not yet known is created
as an entity of type ``thing``. Both writes are idempotent: running an episode
twice changes nothing.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime

from memfuse_server.embeddings.base import Vectors
from memfuse_server.layers.texts import alias_key, entity_text, relation_text
from memfuse_server.models import Entity, EntityType, ItemKind, Relation
from memfuse_server.storage.sqlite.documents import add_documents, bump_memory_version
from memfuse_server.storage.sqlite.facts import content_hash, existing_messages, link_sources
from memfuse_server.storage.sqlite.rows import param_marks, ts


def find_entity(conn: sqlite3.Connection, user_id: str, names: Sequence[str]) -> str | None:
    keys = sorted({alias_key(n) for n in names if n.strip()})
    if not keys:
        return None
    row = conn.execute(
        f"SELECT entity_id FROM entity_aliases WHERE user_id = ? AND alias_key IN"
        f" ({param_marks(len(keys))}) LIMIT 1",
        (user_id, *keys),
    ).fetchone()
    return None if row is None else str(row[0])


def _add_aliases(
    conn: sqlite3.Connection, user_id: str, entity_id: str, names: Sequence[str]
) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO entity_aliases (user_id, alias_key, alias, entity_id) VALUES (?,?,?,?)",
        [(user_id, alias_key(n), n.strip(), entity_id) for n in names if n.strip()],
    )


def upsert_entity(
    conn: sqlite3.Connection,
    user_id: str,
    entity: Entity,
    vector: Vectors | None,
    now: datetime,
) -> tuple[str, bool]:
    """The id of the entity these names denote, created when none does."""
    names = [entity.name, *entity.aliases]
    entity_id = find_entity(conn, user_id, names)
    created = entity_id is None
    if entity_id is None:
        entity_id = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO entities (id, user_id, name, type, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (entity_id, user_id, entity.name, entity.type.value, ts(now), ts(now)),
        )
    elif entity.type is not EntityType.THING:
        # An endpoint first seen in a relation is a "thing" until the entity itself arrives.
        conn.execute(
            "UPDATE entities SET type = ?, updated_at = ? WHERE id = ? AND type = 'thing'",
            (entity.type.value, ts(now), entity_id),
        )
    if vector is not None and not _indexed(conn, entity_id):
        add_documents(conn, user_id, ItemKind.ENTITY, [(entity_id, entity_text(entity))], vector)
    _add_aliases(conn, user_id, entity_id, names)
    return entity_id, created


def _indexed(conn: sqlite3.Connection, entity_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM documents WHERE kind = 'entity' AND item_id = ?", (entity_id,)
    ).fetchone()
    return row is not None


def save_entities(
    conn: sqlite3.Connection,
    user_id: str,
    entities: Sequence[Entity],
    vectors: Vectors,
    now: datetime,
) -> int:
    new = 0
    for entity, vector in zip(entities, vectors, strict=True):
        sources = existing_messages(conn, entity.source_message_ids)
        if not sources:
            continue
        entity_id, created = upsert_entity(conn, user_id, entity, vector[None, :], now)
        new += created
        link_sources(conn, "entity_sources", "entity_id", entity_id, sources)
    if new:
        bump_memory_version(conn, user_id)
    return new


def _endpoint(conn: sqlite3.Connection, user_id: str, name: str, now: datetime) -> str:
    found = find_entity(conn, user_id, [name])
    if found is not None:
        return found
    return upsert_entity(conn, user_id, Entity(name, EntityType.THING), None, now)[0]


def _upsert_relation(
    conn: sqlite3.Connection, user_id: str, rel: Relation, vector: Vectors, now: datetime
) -> tuple[str, bool]:
    subject_id = _endpoint(conn, user_id, rel.subject, now)
    object_id = _endpoint(conn, user_id, rel.object, now)
    valid = ts(rel.valid_at) if rel.valid_at else None
    digest = content_hash(subject_id, rel.predicate, object_id, valid[:10] if valid else None)
    row = conn.execute(
        "SELECT id FROM relations WHERE user_id = ? AND content_hash = ?", (user_id, digest)
    ).fetchone()
    if row is not None:
        return row[0], False
    relation_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO relations (id, user_id, subject_id, predicate, object_id, valid_at, fact,"
        " confidence, content_hash, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            relation_id,
            user_id,
            subject_id,
            rel.predicate,
            object_id,
            valid,
            rel.fact,
            rel.confidence,
            digest,
            ts(now),
            ts(now),
        ),
    )
    text = relation_text(rel.subject, rel.predicate, rel.object)
    add_documents(conn, user_id, ItemKind.RELATION, [(relation_id, text)], vector[None, :])
    return relation_id, True


def save_relations(
    conn: sqlite3.Connection,
    user_id: str,
    relations: Sequence[Relation],
    vectors: Vectors,
    now: datetime,
) -> int:
    new = 0
    for rel, vector in zip(relations, vectors, strict=True):
        sources = existing_messages(conn, rel.source_message_ids)
        if not sources:
            continue
        relation_id, created = _upsert_relation(conn, user_id, rel, vector, now)
        new += created
        link_sources(conn, "relation_sources", "relation_id", relation_id, sources)
    if new:
        bump_memory_version(conn, user_id)
    return new


__all__ = [
    "find_entity",
    "save_entities",
    "save_relations",
    "upsert_entity",
]
