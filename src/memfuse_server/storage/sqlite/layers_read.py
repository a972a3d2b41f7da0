"""Reading M1 and M2: resolving hits to items, graph search, and inspection lists.

Graph search is how the query reaches the graph: the entities named in the
query (any alias, matched on the query's 1-3 word phrases) lead to their
relations and to the facts about them or mentioning them.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence

from memfuse_server.layers.texts import alias_key, relation_text
from memfuse_server.models import JSON, Hit, ItemKind, MemoryItem
from memfuse_server.storage.sqlite.documents import owner_token
from memfuse_server.storage.sqlite.rows import dt, param_marks

_WORD = re.compile(r"[\w'&-]+", re.UNICODE)
_RELATION = (
    "SELECT r.*, s.name AS subject_name, o.name AS object_name FROM relations r"
    " JOIN entities s ON s.id = r.subject_id JOIN entities o ON o.id = r.object_id"
)


def _sources(
    conn: sqlite3.Connection, table: str, column: str, ids: Sequence[str]
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not ids:
        return out
    rows = conn.execute(
        f"SELECT s.{column}, s.message_id FROM {table} s JOIN messages m ON m.id = s.message_id"
        f" WHERE s.{column} IN ({param_marks(len(ids))}) ORDER BY m.created_at, m.seq",
        list(ids),
    )
    for item_id, message_id in rows:
        out.setdefault(item_id, []).append(message_id)
    return out


def _item(
    kind: ItemKind, row: sqlite3.Row, content: str, sources: list[str], extra: JSON
) -> MemoryItem:
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
        extra=extra,
    )


def resolve_facts(
    conn: sqlite3.Connection, user_id: str, ids: Sequence[str]
) -> Iterable[MemoryItem]:
    rows = conn.execute(
        f"SELECT * FROM facts WHERE user_id = ? AND id IN ({param_marks(len(ids))})",
        (user_id, *ids),
    ).fetchall()
    sources = _sources(conn, "fact_sources", "fact_id", [r["id"] for r in rows])
    for r in rows:
        extra = {
            "occurred_at": r["occurred_at"],
            "time_expression": r["time_expression"],
            "subject": r["subject"],
            "confidence": r["confidence"],
        }
        yield _item(ItemKind.FACT, r, r["content"], sources.get(r["id"], []), extra)


def resolve_relations(
    conn: sqlite3.Connection, user_id: str, ids: Sequence[str]
) -> Iterable[MemoryItem]:
    rows = conn.execute(
        f"{_RELATION} WHERE r.user_id = ? AND r.id IN ({param_marks(len(ids))})", (user_id, *ids)
    ).fetchall()
    sources = _sources(conn, "relation_sources", "relation_id", [r["id"] for r in rows])
    for r in rows:
        yield _item(
            ItemKind.RELATION, r, _relation_content(r), sources.get(r["id"], []), _relation_extra(r)
        )


def _relation_content(r: sqlite3.Row) -> str:
    text = relation_text(r["subject_name"], r["predicate"], r["object_name"])
    return f"{text} (as of {r['valid_at'][:10]})" if r["valid_at"] else text


def _relation_extra(r: sqlite3.Row) -> JSON:
    return {
        "subject": {"id": r["subject_id"], "name": r["subject_name"]},
        "predicate": r["predicate"],
        "object": {"id": r["object_id"], "name": r["object_name"]},
        "valid_at": r["valid_at"],
        "fact": r["fact"],
        "confidence": r["confidence"],
    }


def _aliases(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entity_id, alias in conn.execute(
        f"SELECT entity_id, alias FROM entity_aliases WHERE entity_id IN ({param_marks(len(ids))})"
        " ORDER BY alias",
        list(ids),
    ):
        out.setdefault(entity_id, []).append(alias)
    return out


def resolve_entities(
    conn: sqlite3.Connection, user_id: str, ids: Sequence[str]
) -> Iterable[MemoryItem]:
    rows = conn.execute(
        f"SELECT * FROM entities WHERE user_id = ? AND id IN ({param_marks(len(ids))})",
        (user_id, *ids),
    ).fetchall()
    found = [r["id"] for r in rows]
    sources = _sources(conn, "entity_sources", "entity_id", found)
    aliases = _aliases(conn, found) if found else {}
    for r in rows:
        names = [a for a in aliases.get(r["id"], []) if alias_key(a) != alias_key(r["name"])]
        content = f"{r['name']} ({r['type']})" + (f", also {', '.join(names)}" if names else "")
        extra = {"name": r["name"], "entity_type": r["type"], "aliases": names}
        yield _item(ItemKind.ENTITY, r, content, sources.get(r["id"], []), extra)


def _phrases(text: str, longest: int = 3) -> list[str]:
    words = _WORD.findall(text.lower())
    out = {
        " ".join(words[i : i + n]) for n in range(1, longest + 1) for i in range(len(words) - n + 1)
    }
    return sorted(p.strip("'-") for p in out if p.strip("'-"))


def named_entities(conn: sqlite3.Connection, user_id: str, text: str) -> list[str]:
    """Ids of the user's entities whose name or alias appears in ``text``."""
    phrases = _phrases(text)[:500]
    if not phrases:
        return []
    rows = conn.execute(
        "SELECT DISTINCT entity_id FROM entity_aliases WHERE user_id = ? AND alias_key IN"
        f" ({param_marks(len(phrases))})",
        (user_id, *phrases),
    ).fetchall()
    return [r[0] for r in rows]


def search_graph(conn: sqlite3.Connection, user_id: str, text: str, limit: int) -> list[Hit]:
    """Relations of the entities named in ``text``, then facts about or mentioning them."""
    entity_ids = named_entities(conn, user_id, text)
    if not entity_ids:
        return []
    marks = param_marks(len(entity_ids))
    relations = conn.execute(
        f"SELECT id FROM relations WHERE user_id = ? AND (subject_id IN ({marks}) OR object_id IN"
        f" ({marks})) ORDER BY confidence DESC, created_at DESC LIMIT ?",
        (user_id, *entity_ids, *entity_ids, limit),
    ).fetchall()
    hits = [Hit(ItemKind.RELATION, r[0], 1.0) for r in relations]
    return hits + _facts_naming(conn, user_id, entity_ids, limit)


def _facts_naming(
    conn: sqlite3.Connection, user_id: str, entity_ids: Sequence[str], limit: int
) -> list[Hit]:
    aliases = [a for names in _aliases(conn, entity_ids).values() for a in names]
    phrases = " OR ".join('"' + a.replace('"', " ") + '"' for a in aliases[:64])
    if not phrases:
        return []
    rows = conn.execute(
        "SELECT d.item_id FROM documents_fts JOIN documents d ON d.seq = documents_fts.rowid"
        " WHERE documents_fts MATCH ? AND d.kind = 'fact' ORDER BY bm25(documents_fts, 1.0, 0.0)"
        " LIMIT ?",
        (f"owner : {owner_token(user_id)} AND ({phrases})", limit),
    ).fetchall()
    return [Hit(ItemKind.FACT, r[0], 1.0) for r in rows]


def list_items(
    conn: sqlite3.Connection, user_id: str, kind: ItemKind, limit: int, offset: int
) -> list[MemoryItem]:
    """A page of the user's facts, entities or relations, newest first."""
    table = {ItemKind.FACT: "facts", ItemKind.ENTITY: "entities", ItemKind.RELATION: "relations"}[
        kind
    ]
    ids = [
        r[0]
        for r in conn.execute(
            f"SELECT id FROM {table} WHERE user_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
    ]
    if not ids:
        return []
    resolver = {
        ItemKind.FACT: resolve_facts,
        ItemKind.ENTITY: resolve_entities,
        ItemKind.RELATION: resolve_relations,
    }[kind]
    by_id = {item.id: item for item in resolver(conn, user_id, ids)}
    return [by_id[i] for i in ids if i in by_id]


def neighbourhood(
    conn: sqlite3.Connection, user_id: str, entity_id: str, limit: int
) -> JSON | None:
    """An entity with its relations (both directions), neighbours and facts naming it."""
    entity = next(iter(resolve_entities(conn, user_id, [entity_id])), None)
    if entity is None:
        return None
    rel_ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM relations WHERE user_id = ? AND (subject_id = ? OR object_id = ?)"
            " ORDER BY created_at LIMIT ?",
            (user_id, entity_id, entity_id, limit),
        )
    ]
    relations = list(resolve_relations(conn, user_id, rel_ids)) if rel_ids else []
    fact_ids = [h.item_id for h in _facts_naming(conn, user_id, [entity_id], limit)]
    facts = list(resolve_facts(conn, user_id, fact_ids)) if fact_ids else []
    return {"entity": entity, "relations": relations, "facts": facts}


__all__ = [
    "list_items",
    "named_entities",
    "neighbourhood",
    "resolve_entities",
    "resolve_facts",
    "resolve_relations",
    "search_graph",
]
