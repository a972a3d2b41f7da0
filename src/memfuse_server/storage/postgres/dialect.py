"""What PostgreSQL does its own way: search rows (a pgvector column and a tsvector row
per item), vector candidates from one HNSW graph per kind, full-text candidates ranked
by ``ts_rank``, row locks, and a per-user advisory lock for writes of derived memory.

Every query here names the user: ``user_id = $1`` is a mandatory predicate. pgvector's
HNSW indexes and the GIN index follow the tables transactionally, so nothing in the
process needs to follow a commit. Iterative index scans (``hnsw.iterative_scan``, set
per connection) keep reading a kind's graph until the user's rows fill the limit.

``_TermStats`` is about cost only: it estimates how many rows a term matches from the
statistics ANALYZE keeps, cached, so that the term policy (``retrieval/terms.py``)
can be applied without counting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
import numpy as np
from cachetools import TTLCache

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Hit, ItemKind
from memfuse_server.storage.tx import Item, Tx

TEXT_CONFIG = "english"  # stemming (like SQLite's porter tokenizer) and stopwords

_INSERT = f"""
WITH doc AS (
    INSERT INTO documents (user_id, kind, item_id, embedding) VALUES ($1, $2, $3, $4)
    RETURNING seq
)
INSERT INTO document_texts (seq, user_id, kind, body)
SELECT seq, $1, $2, to_tsvector('{TEXT_CONFIG}', $5) FROM doc
"""
_PER_KIND = (
    "(SELECT '{kind}' AS kind, item_id, 1 - (embedding <=> $2) AS score FROM documents"
    " WHERE user_id = $1 AND kind = '{kind}' ORDER BY embedding <=> $2 LIMIT $3)"
)
_VECTORS = " UNION ALL ".join(_PER_KIND.format(kind=k.value) for k in ItemKind)
_TEXT = f"""
SELECT d.kind, d.item_id, ranked.rank FROM (
    SELECT t.seq, ts_rank(t.body, q.query) AS rank
    FROM document_texts t, websearch_to_tsquery('{TEXT_CONFIG}', $2) AS q(query)
    WHERE t.user_id = $1 AND t.body @@ q.query{{kind}}
    ORDER BY rank DESC, t.seq DESC LIMIT $3
) ranked JOIN documents d ON d.seq = ranked.seq
ORDER BY ranked.rank DESC, ranked.seq DESC
"""
_TEXT_ANY = _TEXT.format(kind="")
_TEXT_KIND = _TEXT.format(kind=" AND t.kind = $4")
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


class _TermStats:
    """Rows a term matches, from ``pg_stats`` (the lexemes ANALYZE found most common,
    refreshed every ``ttl`` seconds; a lexeme not among them is rare), and the rows each
    user owns; both cached."""

    def __init__(self, ttl: float = 600.0) -> None:
        self._common: TTLCache[str, dict[str, float]] = TTLCache(maxsize=1, ttl=ttl)
        self._lexemes: TTLCache[str, str] = TTLCache(maxsize=100_000, ttl=86_400)
        self._owned: TTLCache[str, int] = TTLCache(maxsize=10_000, ttl=60)

    async def owned(self, tx: Tx, user_id: str, at_most: int) -> int:
        owned = self._owned.get(user_id)
        if owned is None:
            owned = self._owned[user_id] = int(await tx.fetchval(_OWNED, user_id, at_most))
        return owned

    async def _common_rows(self, tx: Tx) -> dict[str, float]:
        """Expected matching rows of each common lexeme (all users)."""
        common = self._common.get("rows")
        if common is None:
            row = await tx.fetchrow(_COMMON)
            common = {}
            if row is not None and row[0] is not None:
                common = {lex: f * float(row[2]) for lex, f in zip(row[0], row[1], strict=False)}
            self._common["rows"] = common
        return common

    async def matches(self, tx: Tx, terms: Sequence[str]) -> dict[str, float]:
        missing = [t for t in terms if t not in self._lexemes]
        if missing:
            for term, lexemes in await tx.fetch(_LEXEMES, missing):
                self._lexemes[term] = lexemes
        common = await self._common_rows(tx)
        return {
            t: max((common.get(lex, 0.0) for lex in self._lexemes.get(t, "").split()), default=0.0)
            for t in terms
        }


class PostgresDialect:
    """PostgreSQL's side of ``storage/tx.py``'s ``Dialect``."""

    lock_rows = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    share_rows = " FOR SHARE"
    duplicate: tuple[type[BaseException], ...] = (asyncpg.UniqueViolationError,)

    def __init__(self) -> None:
        self._stats = _TermStats()

    async def lock_memory(self, tx: Tx, user_id: str) -> None:
        """A transaction-scoped advisory lock per user (see "Locks" in docs/deploy.md)."""
        await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 77))", user_id)

    async def add_documents(
        self, tx: Tx, user_id: str, kind: ItemKind, items: Sequence[Item], vectors: Vectors
    ) -> None:
        rows = [
            (user_id, kind.value, item_id, np.asarray(vector, dtype=np.float32), text)
            for (item_id, text), vector in zip(items, vectors, strict=True)
        ]
        await tx.executemany(_INSERT, rows)

    async def remove_documents(
        self, tx: Tx, user_id: str, kind: ItemKind, item_ids: Sequence[str]
    ) -> None:
        """The text rows go with their documents (a foreign key)."""
        if item_ids:
            await tx.execute(
                "DELETE FROM documents WHERE user_id = $1 AND kind = $2"
                " AND item_id = ANY($3::text[])",
                user_id,
                kind.value,
                list(item_ids),
            )

    async def forget_user(self, tx: Tx, user_id: str) -> None:
        """Nothing to do: every row of the user cascades with it."""

    async def item_vectors(
        self, tx: Tx, user_id: str, kind: ItemKind, item_ids: Sequence[str]
    ) -> dict[str, Vectors]:
        rows = await tx.fetch(
            "SELECT item_id, embedding FROM documents WHERE user_id = $1 AND kind = $2"
            " AND item_id = ANY($3::text[])",
            user_id,
            kind.value,
            list(item_ids),
        )
        return {r[0]: r[1].to_numpy().astype(np.float32) for r in rows}

    async def vector_candidates(
        self, tx: Tx, user_id: str, vector: Vectors, per_kind: int
    ) -> dict[ItemKind, list[Hit]]:
        """All kinds in one round trip, each asking its own HNSW graph (partial indexes)."""
        query = np.asarray(vector, dtype=np.float32)
        out: dict[ItemKind, list[Hit]] = {}
        for kind, item_id, score in await tx.fetch(_VECTORS, user_id, query, per_kind):
            out.setdefault(ItemKind(kind), []).append(Hit(ItemKind(kind), item_id, float(score)))
        return out

    async def match_scope(self, tx: Tx, user_id: str, at_most: int) -> int:
        """The user's own rows: the (user_id, kind, body) GIN index reads only their postings."""
        return await self._stats.owned(tx, user_id, at_most)

    async def term_matches(self, tx: Tx, terms: Sequence[str]) -> Mapping[str, float]:
        return await self._stats.matches(tx, terms)

    async def text_candidates(
        self, tx: Tx, user_id: str, phrases: Sequence[str], limit: int, kind: ItemKind | None = None
    ) -> list[Hit]:
        query = " or ".join('"' + p.replace('"', " ") + '"' for p in phrases)
        if kind is None:
            rows = await tx.fetch(_TEXT_ANY, user_id, query, limit)
        else:
            rows = await tx.fetch(_TEXT_KIND, user_id, query, limit, kind.value)
        return [Hit(ItemKind(r[0]), r[1], float(r[2])) for r in rows]


__all__ = ["TEXT_CONFIG", "PostgresDialect"]
