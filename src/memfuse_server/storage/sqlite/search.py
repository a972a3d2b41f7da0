"""Full-text candidates (FTS5, BM25) and resolving hits into memory items."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence

import orjson
from cachetools import TTLCache

from memfuse_server.models import Hit, ItemKind, MemoryItem
from memfuse_server.storage.sqlite import layers_read
from memfuse_server.storage.sqlite.documents import owner_token
from memfuse_server.storage.sqlite.rows import dt, param_marks

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


def query_terms(text: str) -> list[str]:
    """The query's content words, in order, deduplicated (stopwords and single letters out)."""
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        if len(word) > 1 and word not in _STOPWORDS and word not in terms:
            terms.append(word)
    return terms[-MAX_TERMS:]


def match_expression(user_id: str | None, terms: list[str]) -> str:
    """An FTS5 MATCH for any of ``terms``, scoped to one user when ``user_id`` is given."""
    words = " OR ".join(f'"{t}"' for t in terms)
    return f"owner : {owner_token(user_id)} AND ({words})" if user_id else words


class TermStats:
    """Document frequencies of query terms, cached (they change slowly).

    BM25 has to score every row a term matches; a term found in a large share
    of a big index adds little to the ranking and most of the cost, so such
    terms are left out of the MATCH (the rarest ones always stay).
    """

    def __init__(self, share: float = 0.05, floor: int = 2000, keep: int = 2) -> None:
        self.share, self.floor, self.keep = share, floor, keep
        self._df: TTLCache[str, int] = TTLCache(maxsize=100_000, ttl=600)
        self._total: TTLCache[str, int] = TTLCache(maxsize=1, ttl=60)
        self._owned: TTLCache[str, int] = TTLCache(maxsize=10_000, ttl=60)
        self._lock = threading.Lock()

    def _count(
        self, conn: sqlite3.Connection, cache: TTLCache[str, int], key: str, sql: str, *args: str
    ) -> int:
        with self._lock:
            value = cache.get(key)
        if value is None:
            value = int(conn.execute(sql, args).fetchone()[0])
            with self._lock:
                cache[key] = value
        return value

    def selective(self, conn: sqlite3.Connection, terms: list[str]) -> list[str]:
        """``terms`` without the very common ones."""
        total = self._count(conn, self._total, "n", "SELECT count(*) FROM documents")
        limit = max(self.floor, self.share * total)
        if total <= limit or len(terms) <= self.keep:
            return terms
        df = {t: self._count(conn, self._df, t, _DF, f'"{t}"') for t in terms}
        rarest = set(sorted(terms, key=lambda t: df[t])[: self.keep])
        return [t for t in terms if df[t] <= limit or t in rarest]

    def dominant(self, conn: sqlite3.Connection, user_id: str) -> bool:
        """Does this user own most of the index (the embedded, one-person case)?"""
        total = self._count(conn, self._total, "n", "SELECT count(*) FROM documents")
        mine = self._count(
            conn, self._owned, user_id, "SELECT count(*) FROM documents WHERE user_id = ?", user_id
        )
        return total > 0 and mine * 2 >= total


_DF = "SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ?"


_RANKED = (
    "SELECT d.kind, d.item_id, d.user_id, f.rank FROM (SELECT rowid, bm25(documents_fts, 1.0, 0.0)"
    " AS rank FROM documents_fts WHERE documents_fts MATCH ? ORDER BY rank LIMIT ?) f"
    " JOIN documents d ON d.seq = f.rowid ORDER BY f.rank"
)


def search_text(
    conn: sqlite3.Connection, user_id: str, text: str, limit: int, stats: TermStats | None = None
) -> list[Hit]:
    """BM25 over the user's documents.

    Ranking is done inside FTS5 before the join (joining first makes SQLite
    rank every match through the join). Scoping by the ``owner`` token costs
    BM25 a phrase that matches every row of the user, so when the user owns
    most of the index the MATCH is left unscoped and foreign rows are dropped
    afterwards (falling back to the scoped MATCH if too few remain).
    """
    terms = query_terms(text)
    if stats is not None:
        terms = stats.selective(conn, terms)
    if not terms:
        return []
    words = match_expression(None, terms)
    if stats is not None and stats.dominant(conn, user_id):
        rows = conn.execute(_RANKED, (words, 2 * limit)).fetchall()
        mine = [r for r in rows if r[2] == user_id]
        if len(mine) >= limit or len(rows) < 2 * limit:
            return [Hit(ItemKind(r[0]), r[1], -float(r[3])) for r in mine[:limit]]
    rows = conn.execute(_RANKED, (match_expression(user_id, terms), limit)).fetchall()
    return [Hit(ItemKind(r[0]), r[1], -float(r[3])) for r in rows]


Key = tuple[ItemKind, str]


def _messages(conn: sqlite3.Connection, user_id: str, ids: Sequence[str]) -> Iterable[MemoryItem]:
    rows = conn.execute(
        "SELECT m.*, s.agent_id, s.name AS session_name FROM messages m"
        " JOIN sessions s ON s.id = m.session_id"
        f" WHERE m.user_id = ? AND m.id IN ({param_marks(len(ids))})",
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
    marks = param_marks(len(ids))
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
        f"SELECT * FROM knowledge WHERE user_id = ? AND id IN ({param_marks(len(ids))})",
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
    ItemKind.FACT: layers_read.resolve_facts,
    ItemKind.RELATION: layers_read.resolve_relations,
    ItemKind.ENTITY: layers_read.resolve_entities,
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


__all__ = [
    "Key",
    "TermStats",
    "match_expression",
    "memory_version",
    "query_terms",
    "resolve",
    "search_text",
]
