"""Full-text candidates (FTS5, BM25) and resolving hits into memory items."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence

import orjson

from memfuse_server.models import Hit, ItemKind, MemoryItem
from memfuse_server.storage.sqlite.documents import owner_token
from memfuse_server.storage.sqlite.rows import dt, placeholders

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
MAX_TERMS = 32


def match_expression(user_id: str, text: str) -> str | None:
    """An FTS5 MATCH scoped to one user: any of the query's content words."""
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word not in _STOPWORDS and word not in terms:
            terms.append(word)
    if not terms:
        return None
    words = " OR ".join(f'"{t}"' for t in terms[:MAX_TERMS])
    return f"owner : {owner_token(user_id)} AND ({words})"


def search_text(conn: sqlite3.Connection, user_id: str, text: str, limit: int) -> list[Hit]:
    expression = match_expression(user_id, text)
    if expression is None:
        return []
    rows = conn.execute(
        "SELECT d.kind, d.item_id, bm25(documents_fts, 1.0, 0.0) AS rank"
        " FROM documents_fts JOIN documents d ON d.seq = documents_fts.rowid"
        " WHERE documents_fts MATCH ? ORDER BY rank LIMIT ?",
        (expression, limit),
    ).fetchall()
    return [Hit(ItemKind(r[0]), r[1], -float(r[2])) for r in rows]


Key = tuple[ItemKind, str]


def _messages(conn: sqlite3.Connection, user_id: str, ids: Sequence[str]) -> Iterable[MemoryItem]:
    rows = conn.execute(
        "SELECT m.*, s.agent_id, s.name AS session_name FROM messages m"
        " JOIN sessions s ON s.id = m.session_id"
        f" WHERE m.user_id = ? AND m.id IN ({placeholders(len(ids))})",
        (user_id, *ids),
    )
    for r in rows:
        yield MemoryItem(
            kind=ItemKind.MESSAGE,
            id=r["id"],
            content=r["content"],
            role=r["role"],
            session_id=r["session_id"],
            agent_id=r["agent_id"],
            session_name=r["session_name"],
            created_at=dt(r["created_at"]),
            updated_at=dt(r["updated_at"]),
            source_message_ids=(r["id"],),
            extra={"name": r["name"], "message_metadata": orjson.loads(r["metadata"])},
        )


def _chunks(conn: sqlite3.Connection, user_id: str, ids: Sequence[str]) -> Iterable[MemoryItem]:
    marks = placeholders(len(ids))
    members: dict[str, list[str]] = {}
    for episode_id, message_id in conn.execute(
        f"SELECT episode_id, id FROM messages WHERE episode_id IN ({marks}) ORDER BY created_at, seq",
        list(ids),
    ):
        members.setdefault(episode_id, []).append(message_id)
    rows = conn.execute(
        "SELECT e.*, s.agent_id, s.name AS session_name FROM episodes e"
        f" JOIN sessions s ON s.id = e.session_id WHERE e.user_id = ? AND e.id IN ({marks})",
        (user_id, *ids),
    )
    for r in rows:
        yield MemoryItem(
            kind=ItemKind.CHUNK,
            id=r["id"],
            content=r["content"],
            role=None,
            session_id=r["session_id"],
            agent_id=r["agent_id"],
            session_name=r["session_name"],
            created_at=dt(r["start_at"]),
            updated_at=dt(r["updated_at"]),
            source_message_ids=tuple(members.get(r["id"], ())),
            extra={"end_at": r["end_at"]},
        )


def _knowledge(conn: sqlite3.Connection, user_id: str, ids: Sequence[str]) -> Iterable[MemoryItem]:
    rows = conn.execute(
        f"SELECT * FROM knowledge WHERE user_id = ? AND id IN ({placeholders(len(ids))})",
        (user_id, *ids),
    )
    for r in rows:
        yield MemoryItem(
            kind=ItemKind.KNOWLEDGE,
            id=r["id"],
            content=r["content"],
            role=None,
            session_id=None,
            agent_id=None,
            session_name=None,
            created_at=dt(r["created_at"]),
            updated_at=dt(r["updated_at"]),
            source_message_ids=(),
        )


_RESOLVERS: dict[
    ItemKind, Callable[[sqlite3.Connection, str, Sequence[str]], Iterable[MemoryItem]]
] = {
    ItemKind.MESSAGE: _messages,
    ItemKind.CHUNK: _chunks,
    ItemKind.KNOWLEDGE: _knowledge,
}


def resolve(conn: sqlite3.Connection, user_id: str, keys: Sequence[Key]) -> dict[Key, MemoryItem]:
    """Load the items behind these keys; keys that no longer exist are left out."""
    by_kind: dict[ItemKind, list[str]] = {}
    for kind, item_id in keys:
        by_kind.setdefault(kind, []).append(item_id)
    found: dict[Key, MemoryItem] = {}
    for kind, ids in by_kind.items():
        for item in _RESOLVERS[kind](conn, user_id, ids):
            found[(item.kind, item.id)] = item
    return found


def memory_version(conn: sqlite3.Connection, user_id: str) -> int:
    row = conn.execute("SELECT memory_version FROM users WHERE id = ?", (user_id,)).fetchone()
    return -1 if row is None else int(row[0])


__all__ = ["Key", "match_expression", "memory_version", "resolve", "search_text"]
