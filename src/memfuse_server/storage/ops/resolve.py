"""Resolving hits into memory items: content, provenance (source messages) and scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from memfuse_server.layers.texts import alias_key, relation_text
from memfuse_server.models import JSON, ItemKind, MemoryItem
from memfuse_server.storage.ops.rows import dt, iso, js
from memfuse_server.storage.tx import Row, Tx
from memfuse_server.validity import ends_value

Key = tuple[ItemKind, str]
_RELATION = (
    "SELECT r.*, s.name AS subject_name, o.name AS object_name FROM relations r"
    " JOIN entities s ON s.id = r.subject_id JOIN entities o ON o.id = r.object_id"
)


def _item(
    kind: ItemKind, row: Row, content: str, sources: Sequence[str], extra: JSON | None = None
) -> MemoryItem:
    """A user-level item (no session): knowledge, a fact, an entity or a relation."""
    return MemoryItem(
        kind=kind,
        id=row["id"],
        content=content,
        role=None,
        session_id=None,
        agent_id=None,
        session_name=None,
        created_at=dt(row["created_at"]),
        updated_at=dt(row["updated_at"]),
        source_message_ids=tuple(sources),
        extra=extra if extra is not None else {},
    )


def _in_session(
    kind: ItemKind,
    row: Row,
    created: datetime | str,
    sources: Sequence[str],
    extra: JSON,
    role: str | None = None,
) -> MemoryItem:
    """An item of a session: a message or an episode chunk, with the session's agent and name."""
    return MemoryItem(
        kind=kind,
        id=row["id"],
        content=row["content"],
        role=role,
        session_id=row["session_id"],
        agent_id=row["agent_id"],
        session_name=row["session_name"],
        created_at=dt(created),
        updated_at=dt(row["updated_at"]),
        source_message_ids=tuple(sources),
        extra=extra,
    )


async def _messages(tx: Tx, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
    rows = await tx.fetch(
        "SELECT m.*, s.agent_id, s.name AS session_name FROM messages m"
        " JOIN sessions s ON s.id = m.session_id WHERE m.user_id = $1 AND m.id = ANY($2::text[])",
        user_id,
        list(ids),
    )
    return [
        _in_session(
            ItemKind.MESSAGE,
            r,
            r["created_at"],
            (r["id"],),
            {"name": r["name"], "message_metadata": js(r["metadata"])},
            role=r["role"],
        )
        for r in rows
    ]


async def _chunks(tx: Tx, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
    members: dict[str, list[str]] = {}
    for r in await tx.fetch(
        "SELECT episode_id, id FROM messages WHERE user_id = $1 AND episode_id = ANY($2::text[])"
        " ORDER BY created_at, seq",
        user_id,
        list(ids),
    ):
        members.setdefault(r[0], []).append(r[1])
    rows = await tx.fetch(
        "SELECT e.*, s.agent_id, s.name AS session_name FROM episodes e"
        " JOIN sessions s ON s.id = e.session_id WHERE e.user_id = $1 AND e.id = ANY($2::text[])",
        user_id,
        list(ids),
    )
    return [
        _in_session(
            ItemKind.CHUNK, r, r["start_at"], members.get(r["id"], []), {"end_at": iso(r["end_at"])}
        )
        for r in rows
    ]


async def _knowledge(tx: Tx, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
    rows = await tx.fetch(
        "SELECT * FROM knowledge WHERE user_id = $1 AND id = ANY($2::text[])", user_id, list(ids)
    )
    return [_item(ItemKind.KNOWLEDGE, r, r["content"], ()) for r in rows]


async def _sources(tx: Tx, table: str, column: str, ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not ids:
        return out
    rows = await tx.fetch(
        f"SELECT s.{column}, s.message_id FROM {table} s JOIN messages m ON m.id = s.message_id"
        f" WHERE s.{column} = ANY($1::text[]) ORDER BY m.created_at, m.seq",
        list(ids),
    )
    for r in rows:
        out.setdefault(r[0], []).append(r[1])
    return out


async def resolve_facts(tx: Tx, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
    rows = await tx.fetch(
        "SELECT * FROM facts WHERE user_id = $1 AND id = ANY($2::text[])", user_id, list(ids)
    )
    sources = await _sources(tx, "fact_sources", "fact_id", [r["id"] for r in rows])
    return [
        _item(
            ItemKind.FACT,
            r,
            r["content"],
            sources.get(r["id"], []),
            {
                "occurred_at": iso(r["occurred_at"]),
                "time_expression": r["time_expression"],
                "subject": r["subject"],
                "confidence": r["confidence"],
                **_validity(r),
                "value": r["value"],
            },
        )
        for r in rows
    ]


def _validity(r: Row) -> JSON:
    """When a fact or relation holds, what ended it, and the attribute it states."""
    return {
        "valid_from": iso(r["valid_from"]),
        "valid_until": iso(r["valid_until"]),
        "superseded_by": r["superseded_by"],
        "recorded_at": iso(r["recorded_at"]),
        "attribute": r["attribute"],
        "ends": bool(r["ends"]),
    }


async def resolve_relations(tx: Tx, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
    rows = await tx.fetch(
        f"{_RELATION} WHERE r.user_id = $1 AND r.id = ANY($2::text[])", user_id, list(ids)
    )
    sources = await _sources(tx, "relation_sources", "relation_id", [r["id"] for r in rows])
    return [
        _item(
            ItemKind.RELATION, r, _relation_content(r), sources.get(r["id"], []), _relation_extra(r)
        )
        for r in rows
    ]


def _relation_content(r: Row) -> str:
    negated = bool(r["ends"]) and not ends_value(r["predicate"], False)
    text = relation_text(r["subject_name"], r["predicate"], r["object_name"], ends=negated)
    valid = iso(r["valid_at"])
    return f"{text} (as of {valid[:10]})" if valid else text


def _relation_extra(r: Row) -> JSON:
    return {
        "subject": {"id": r["subject_id"], "name": r["subject_name"]},
        "predicate": r["predicate"],
        "object": {"id": r["object_id"], "name": r["object_name"]},
        "valid_at": iso(r["valid_at"]),
        "fact": r["fact"],
        "confidence": r["confidence"],
        **_validity(r),
    }


async def aliases(tx: Tx, user_id: str, ids: Sequence[str]) -> dict[str, list[str]]:
    """Every name of these entities, in code-point order."""
    out: dict[str, list[str]] = {}
    rows = await tx.fetch(
        "SELECT entity_id, alias FROM entity_aliases WHERE user_id = $1"
        " AND entity_id = ANY($2::text[])",
        user_id,
        list(ids),
    )
    for r in sorted(rows, key=lambda r: r[1]):
        out.setdefault(r[0], []).append(r[1])
    return out


async def _first_said(tx: Tx, ids: Sequence[str]) -> dict[str, str | None]:
    """When each entity was first mentioned (its earliest source message)."""
    if not ids:
        return {}
    rows = await tx.fetch(
        "SELECT s.entity_id, MIN(m.created_at) FROM entity_sources s"
        " JOIN messages m ON m.id = s.message_id WHERE s.entity_id = ANY($1::text[])"
        " GROUP BY s.entity_id",
        list(ids),
    )
    return {r[0]: iso(r[1]) for r in rows}


async def resolve_entities(tx: Tx, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
    rows = await tx.fetch(
        "SELECT * FROM entities WHERE user_id = $1 AND id = ANY($2::text[])", user_id, list(ids)
    )
    found = [r["id"] for r in rows]
    sources = await _sources(tx, "entity_sources", "entity_id", found)
    names_of = await aliases(tx, user_id, found) if found else {}
    first = await _first_said(tx, found)
    items = []
    for r in rows:
        names = [a for a in names_of.get(r["id"], []) if alias_key(a) != alias_key(r["name"])]
        content = f"{r['name']} ({r['type']})" + (f", also {', '.join(names)}" if names else "")
        extra = {
            "name": r["name"],
            "entity_type": r["type"],
            "aliases": names,
            "valid_from": first.get(r["id"]),
        }
        items.append(_item(ItemKind.ENTITY, r, content, sources.get(r["id"], []), extra))
    return items


Resolver = Callable[[Tx, str, Sequence[str]], Awaitable[list[MemoryItem]]]
RESOLVERS: dict[ItemKind, Resolver] = {
    ItemKind.MESSAGE: _messages,
    ItemKind.CHUNK: _chunks,
    ItemKind.KNOWLEDGE: _knowledge,
    ItemKind.FACT: resolve_facts,
    ItemKind.RELATION: resolve_relations,
    ItemKind.ENTITY: resolve_entities,
}


async def resolve(tx: Tx, user_id: str, keys: Sequence[Key]) -> dict[Key, MemoryItem]:
    """Load the items behind these keys; keys that no longer exist are left out."""
    by_kind: dict[ItemKind, list[str]] = {}
    for kind, item_id in keys:
        by_kind.setdefault(kind, []).append(item_id)
    found: dict[Key, MemoryItem] = {}
    for kind, ids in by_kind.items():
        for item in await RESOLVERS[kind](tx, user_id, ids):
            found[(item.kind, item.id)] = item
    return found


__all__ = [
    "RESOLVERS",
    "Key",
    "aliases",
    "resolve",
    "resolve_entities",
    "resolve_facts",
    "resolve_relations",
]
