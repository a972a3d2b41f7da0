"""Candidates for the query: vector (pgvector HNSW), full text (tsvector), and resolving hits.

Every query here names the user: ``user_id = $1`` is a mandatory predicate,
never optional. Vector search asks each kind's own HNSW graph (partial
indexes), all kinds in one round trip; iterative index scans
(``hnsw.iterative_scan``, set per connection) keep reading the graph until
the user's rows fill the limit. Full text ranks with ``ts_rank`` over the
query's content words (any of them), the very common ones left out on large
indexes as on SQLite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

import asyncpg
import numpy as np
from cachetools import TTLCache

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Hit, ItemKind, MemoryItem
from memfuse_server.storage.postgres import layers_read
from memfuse_server.storage.postgres.documents import TEXT_CONFIG
from memfuse_server.storage.postgres.rows import Record, iso
from memfuse_server.storage.sqlite.search import query_terms

Connection = asyncpg.Connection
Key = tuple[ItemKind, str]

_PER_KIND = (
    "(SELECT '{kind}' AS kind, item_id, 1 - (embedding <=> $2) AS score FROM documents"
    " WHERE user_id = $1 AND kind = '{kind}' ORDER BY embedding <=> $2 LIMIT $3)"
)
_VECTORS = " UNION ALL ".join(_PER_KIND.format(kind=k.value) for k in ItemKind)

_TEXT = f"""
SELECT d.kind, d.item_id, ranked.rank FROM (
    SELECT t.seq, ts_rank(t.body, q.query) AS rank
    FROM document_texts t, websearch_to_tsquery('{TEXT_CONFIG}', $2) AS q(query)
    WHERE t.user_id = $1 AND t.body @@ q.query
    ORDER BY rank DESC, t.seq DESC LIMIT $3
) ranked JOIN documents d ON d.seq = ranked.seq
ORDER BY ranked.rank DESC, ranked.seq DESC
"""
_LEXEMES = f"""
SELECT term, array_to_string(tsvector_to_array(to_tsvector('{TEXT_CONFIG}', term)), ' ')
FROM unnest($1::text[]) AS terms(term)
"""
_COMMON = """
SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples
FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename
WHERE s.tablename = 'document_texts' AND s.attname = 'body' AND s.schemaname = current_schema()
"""
_OWNED = "SELECT count(*) FROM (SELECT 1 FROM document_texts WHERE user_id = $1 LIMIT $2) owned"


async def search_vectors(
    conn: Connection, user_id: str, vector: Vectors, per_kind: int
) -> dict[ItemKind, list[Hit]]:
    """The user's nearest items of each kind (cosine similarity), kinds without any left out."""
    query = np.asarray(vector, dtype=np.float32)
    out: dict[ItemKind, list[Hit]] = {}
    for kind, item_id, score in await conn.fetch(_VECTORS, user_id, query, per_kind):
        out.setdefault(ItemKind(kind), []).append(Hit(ItemKind(kind), item_id, float(score)))
    return out


class TermStats:
    """How many rows a query term matches, from the statistics ANALYZE keeps, cached.

    Ranking scores every row the query matches. On a large history the rarest
    terms carry the ranking and the common ones most of its cost, so terms are
    taken rarest first while the rows they are expected to match stay within
    ``budget`` (the rarest one always). Frequencies come from ``pg_stats``
    (the lexemes ANALYZE found most common, refreshed every ``ttl`` seconds);
    a term not among them is rare. A user with at most ``budget`` documents
    keeps every term and costs nothing.
    """

    def __init__(self, budget: int = 2000, ttl: float = 600.0) -> None:
        self.budget = budget
        self._common: TTLCache[str, dict[str, float]] = TTLCache(maxsize=1, ttl=ttl)
        self._lexemes: TTLCache[str, str] = TTLCache(maxsize=100_000, ttl=86_400)
        self._owned: TTLCache[str, int] = TTLCache(maxsize=10_000, ttl=60)

    async def _common_rows(self, conn: Connection) -> dict[str, float]:
        """Expected matching rows of each common lexeme (all users)."""
        common = self._common.get("rows")
        if common is None:
            row = await conn.fetchrow(_COMMON)
            common = {}
            if row is not None and row[0] is not None:
                common = {lex: f * float(row[2]) for lex, f in zip(row[0], row[1], strict=False)}
            self._common["rows"] = common
        return common

    async def _frequencies(self, conn: Connection, terms: list[str]) -> dict[str, float]:
        missing = [t for t in terms if t not in self._lexemes]
        if missing:
            for term, lexemes in await conn.fetch(_LEXEMES, missing):
                self._lexemes[term] = lexemes
        common = await self._common_rows(conn)
        return {
            t: max((common.get(lex, 0.0) for lex in self._lexemes.get(t, "").split()), default=0.0)
            for t in terms
        }

    async def selective(self, conn: Connection, user_id: str, terms: list[str]) -> list[str]:
        """The terms worth matching, in their query order."""
        owned = self._owned.get(user_id)
        if owned is None:
            counted = await conn.fetchval(_OWNED, user_id, self.budget + 1)
            owned = self._owned[user_id] = int(counted)
        if owned <= self.budget or len(terms) <= 1:
            return terms
        df = await self._frequencies(conn, terms)
        chosen: set[str] = set()
        total = 0.0
        for term in sorted(terms, key=lambda t: df[t]):
            if chosen and total + df[term] > self.budget:
                break
            chosen.add(term)
            total += df[term]
        return [t for t in terms if t in chosen]


async def search_text(
    conn: Connection, user_id: str, text: str, limit: int, stats: TermStats | None = None
) -> list[Hit]:
    """Full-text candidates among the user's documents: any of the query's content words."""
    terms = query_terms(text)
    if stats is not None:
        terms = await stats.selective(conn, user_id, terms)
    if not terms:
        return []
    rows = await conn.fetch(_TEXT, user_id, " or ".join(terms), limit)
    return [Hit(ItemKind(r[0]), r[1], float(r[2])) for r in rows]


async def _messages(conn: Connection, user_id: str, ids: Sequence[str]) -> Iterable[MemoryItem]:
    rows = await conn.fetch(
        "SELECT m.*, s.agent_id, s.name AS session_name FROM messages m"
        " JOIN sessions s ON s.id = m.session_id WHERE m.user_id = $1 AND m.id = ANY($2::text[])",
        user_id,
        list(ids),
    )
    return [
        MemoryItem(
            kind=ItemKind.MESSAGE,
            id=r["id"],
            content=r["content"],
            role=r["role"],
            session_id=r["session_id"],
            agent_id=r["agent_id"],
            session_name=r["session_name"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            source_message_ids=(r["id"],),
            extra={"name": r["name"], "message_metadata": r["metadata"]},
        )
        for r in rows
    ]


async def _chunks(conn: Connection, user_id: str, ids: Sequence[str]) -> Iterable[MemoryItem]:
    members: dict[str, list[str]] = {}
    for episode_id, message_id in await conn.fetch(
        "SELECT episode_id, id FROM messages WHERE user_id = $1 AND episode_id = ANY($2::text[])"
        " ORDER BY created_at, seq",
        user_id,
        list(ids),
    ):
        members.setdefault(episode_id, []).append(message_id)
    rows = await conn.fetch(
        "SELECT e.*, s.agent_id, s.name AS session_name FROM episodes e"
        " JOIN sessions s ON s.id = e.session_id WHERE e.user_id = $1 AND e.id = ANY($2::text[])",
        user_id,
        list(ids),
    )
    return [_chunk(r, members.get(r["id"], [])) for r in rows]


def _chunk(r: Record, members: list[str]) -> MemoryItem:
    return MemoryItem(
        kind=ItemKind.CHUNK,
        id=r["id"],
        content=r["content"],
        role=None,
        session_id=r["session_id"],
        agent_id=r["agent_id"],
        session_name=r["session_name"],
        created_at=r["start_at"],
        updated_at=r["updated_at"],
        source_message_ids=tuple(members),
        extra={"end_at": iso(r["end_at"])},
    )


async def _knowledge(conn: Connection, user_id: str, ids: Sequence[str]) -> Iterable[MemoryItem]:
    rows = await conn.fetch(
        "SELECT * FROM knowledge WHERE user_id = $1 AND id = ANY($2::text[])", user_id, list(ids)
    )
    return [
        MemoryItem(
            kind=ItemKind.KNOWLEDGE,
            id=r["id"],
            content=r["content"],
            role=None,
            session_id=None,
            agent_id=None,
            session_name=None,
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            source_message_ids=(),
        )
        for r in rows
    ]


Resolver = Callable[[Connection, str, Sequence[str]], Awaitable[Iterable[MemoryItem]]]
_RESOLVERS: dict[ItemKind, Resolver] = {
    ItemKind.MESSAGE: _messages,
    ItemKind.CHUNK: _chunks,
    ItemKind.KNOWLEDGE: _knowledge,
    ItemKind.FACT: layers_read.resolve_facts,
    ItemKind.RELATION: layers_read.resolve_relations,
    ItemKind.ENTITY: layers_read.resolve_entities,
}


async def resolve(conn: Connection, user_id: str, keys: Sequence[Key]) -> dict[Key, MemoryItem]:
    """Load the items behind these keys; keys that no longer exist are left out."""
    by_kind: dict[ItemKind, list[str]] = {}
    for kind, item_id in keys:
        by_kind.setdefault(kind, []).append(item_id)
    found: dict[Key, MemoryItem] = {}
    for kind, ids in by_kind.items():
        for item in await _RESOLVERS[kind](conn, user_id, ids):
            found[(item.kind, item.id)] = item
    return found


async def memory_version(conn: Connection, user_id: str) -> int:
    found = await conn.fetchval("SELECT memory_version FROM users WHERE id = $1", user_id)
    return -1 if found is None else int(found)


__all__ = ["Key", "TermStats", "memory_version", "resolve", "search_text", "search_vectors"]
