"""Reading M1 and M2: resolving hits to items, graph search, and inspection lists.

Graph search is how the query reaches the graph: the entities named in the
query (any alias, matched on the query's 1-3 word phrases) lead to their
relations and to the facts mentioning them (full-text phrase match).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence

import asyncpg

from memfuse_server.layers.texts import alias_key, relation_text
from memfuse_server.models import JSON, Hit, ItemKind, MemoryItem
from memfuse_server.storage.postgres.documents import TEXT_CONFIG
from memfuse_server.storage.postgres.rows import Record, iso

Connection = asyncpg.Connection
_WORD = re.compile(r"[\w'&-]+", re.UNICODE)
_RELATION = (
    "SELECT r.*, s.name AS subject_name, o.name AS object_name FROM relations r"
    " JOIN entities s ON s.id = r.subject_id JOIN entities o ON o.id = r.object_id"
)
_FACTS_NAMING = f"""
SELECT d.item_id FROM (
    SELECT t.seq, ts_rank(t.body, q.query) AS rank
    FROM document_texts t, websearch_to_tsquery('{TEXT_CONFIG}', $2) AS q(query)
    WHERE t.user_id = $1 AND t.kind = 'fact' AND t.body @@ q.query
    ORDER BY rank DESC, t.seq LIMIT $3
) ranked JOIN documents d ON d.seq = ranked.seq
ORDER BY ranked.rank DESC, ranked.seq
"""


async def _sources(
    conn: Connection, table: str, column: str, ids: Sequence[str]
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not ids:
        return out
    rows = await conn.fetch(
        f"SELECT s.{column}, s.message_id FROM {table} s JOIN messages m ON m.id = s.message_id"
        f" WHERE s.{column} = ANY($1::text[]) ORDER BY m.created_at, m.seq",
        list(ids),
    )
    for item_id, message_id in rows:
        out.setdefault(item_id, []).append(message_id)
    return out


def _item(kind: ItemKind, row: Record, content: str, sources: list[str], extra: JSON) -> MemoryItem:
    return MemoryItem(
        kind=kind,
        id=row["id"],
        content=content,
        role=None,
        session_id=None,
        agent_id=None,
        session_name=None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        source_message_ids=tuple(sources),
        extra=extra,
    )


async def resolve_facts(conn: Connection, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
    rows = await conn.fetch(
        "SELECT * FROM facts WHERE user_id = $1 AND id = ANY($2::text[])", user_id, list(ids)
    )
    sources = await _sources(conn, "fact_sources", "fact_id", [r["id"] for r in rows])
    items = []
    for r in rows:
        extra = {
            "occurred_at": iso(r["occurred_at"]),
            "time_expression": r["time_expression"],
            "subject": r["subject"],
            "confidence": r["confidence"],
        }
        items.append(_item(ItemKind.FACT, r, r["content"], sources.get(r["id"], []), extra))
    return items


async def resolve_relations(conn: Connection, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
    rows = await conn.fetch(
        f"{_RELATION} WHERE r.user_id = $1 AND r.id = ANY($2::text[])", user_id, list(ids)
    )
    sources = await _sources(conn, "relation_sources", "relation_id", [r["id"] for r in rows])
    return [
        _item(
            ItemKind.RELATION, r, _relation_content(r), sources.get(r["id"], []), _relation_extra(r)
        )
        for r in rows
    ]


def _relation_content(r: Record) -> str:
    text = relation_text(r["subject_name"], r["predicate"], r["object_name"])
    valid = iso(r["valid_at"])
    return f"{text} (as of {valid[:10]})" if valid else text


def _relation_extra(r: Record) -> JSON:
    return {
        "subject": {"id": r["subject_id"], "name": r["subject_name"]},
        "predicate": r["predicate"],
        "object": {"id": r["object_id"], "name": r["object_name"]},
        "valid_at": iso(r["valid_at"]),
        "fact": r["fact"],
        "confidence": r["confidence"],
    }


async def _aliases(conn: Connection, user_id: str, ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    rows = await conn.fetch(
        "SELECT entity_id, alias FROM entity_aliases WHERE user_id = $1"
        ' AND entity_id = ANY($2::text[]) ORDER BY alias COLLATE "C"',
        user_id,
        list(ids),
    )
    for entity_id, alias in rows:
        out.setdefault(entity_id, []).append(alias)
    return out


async def resolve_entities(conn: Connection, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
    rows = await conn.fetch(
        "SELECT * FROM entities WHERE user_id = $1 AND id = ANY($2::text[])", user_id, list(ids)
    )
    found = [r["id"] for r in rows]
    sources = await _sources(conn, "entity_sources", "entity_id", found)
    aliases = await _aliases(conn, user_id, found) if found else {}
    items = []
    for r in rows:
        names = [a for a in aliases.get(r["id"], []) if alias_key(a) != alias_key(r["name"])]
        content = f"{r['name']} ({r['type']})" + (f", also {', '.join(names)}" if names else "")
        extra = {"name": r["name"], "entity_type": r["type"], "aliases": names}
        items.append(_item(ItemKind.ENTITY, r, content, sources.get(r["id"], []), extra))
    return items


def _phrases(text: str, longest: int = 3) -> list[str]:
    words = _WORD.findall(text.lower())
    out = {
        " ".join(words[i : i + n]) for n in range(1, longest + 1) for i in range(len(words) - n + 1)
    }
    return sorted(p.strip("'-") for p in out if p.strip("'-"))


async def named_entities(conn: Connection, user_id: str, text: str) -> list[str]:
    """Ids of the user's entities whose name or alias appears in ``text``."""
    phrases = _phrases(text)[:500]
    if not phrases:
        return []
    rows = await conn.fetch(
        "SELECT DISTINCT entity_id FROM entity_aliases WHERE user_id = $1"
        " AND alias_key = ANY($2::text[])",
        user_id,
        phrases,
    )
    return [r[0] for r in rows]


async def search_graph(conn: Connection, user_id: str, text: str, limit: int) -> list[Hit]:
    """Relations of the entities named in ``text``, then facts mentioning them."""
    entity_ids = await named_entities(conn, user_id, text)
    if not entity_ids:
        return []
    relations = await conn.fetch(
        "SELECT id FROM relations WHERE user_id = $1 AND (subject_id = ANY($2::text[])"
        " OR object_id = ANY($2::text[])) ORDER BY confidence DESC, created_at DESC LIMIT $3",
        user_id,
        entity_ids,
        limit,
    )
    hits = [Hit(ItemKind.RELATION, r[0], 1.0) for r in relations]
    return hits + await _facts_naming(conn, user_id, entity_ids, limit)


async def _facts_naming(
    conn: Connection, user_id: str, entity_ids: Sequence[str], limit: int
) -> list[Hit]:
    aliases = [a for names in (await _aliases(conn, user_id, entity_ids)).values() for a in names]
    phrases = " or ".join('"' + a.replace('"', " ") + '"' for a in aliases[:64])
    if not phrases:
        return []
    rows = await conn.fetch(_FACTS_NAMING, user_id, phrases, limit)
    return [Hit(ItemKind.FACT, r[0], 1.0) for r in rows]


_TABLES = {ItemKind.FACT: "facts", ItemKind.ENTITY: "entities", ItemKind.RELATION: "relations"}
_Resolver = Callable[[Connection, str, Sequence[str]], Awaitable[Iterable[MemoryItem]]]


async def list_items(
    conn: Connection, user_id: str, kind: ItemKind, limit: int, offset: int
) -> list[MemoryItem]:
    """A page of the user's facts, entities or relations, newest first."""
    ids = [
        r[0]
        for r in await conn.fetch(
            f"SELECT id FROM {_TABLES[kind]} WHERE user_id = $1"
            " ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
            user_id,
            limit,
            offset,
        )
    ]
    if not ids:
        return []
    resolver: _Resolver = {
        ItemKind.FACT: resolve_facts,
        ItemKind.ENTITY: resolve_entities,
        ItemKind.RELATION: resolve_relations,
    }[kind]
    by_id = {item.id: item for item in await resolver(conn, user_id, ids)}
    return [by_id[i] for i in ids if i in by_id]


async def neighbourhood(conn: Connection, user_id: str, entity_id: str, limit: int) -> JSON | None:
    """An entity with its relations (both directions), neighbours and facts naming it."""
    entities = await resolve_entities(conn, user_id, [entity_id])
    if not entities:
        return None
    rel_ids = [
        r[0]
        for r in await conn.fetch(
            "SELECT id FROM relations WHERE user_id = $1 AND (subject_id = $2 OR object_id = $2)"
            " ORDER BY created_at LIMIT $3",
            user_id,
            entity_id,
            limit,
        )
    ]
    relations = await resolve_relations(conn, user_id, rel_ids) if rel_ids else []
    fact_ids = [h.item_id for h in await _facts_naming(conn, user_id, [entity_id], limit)]
    facts = await resolve_facts(conn, user_id, fact_ids) if fact_ids else []
    return {"entity": entities[0], "relations": relations, "facts": facts}


__all__ = [
    "list_items",
    "named_entities",
    "neighbourhood",
    "resolve_entities",
    "resolve_facts",
    "resolve_relations",
    "search_graph",
]
