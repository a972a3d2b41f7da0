"""What SQLite does its own way: search rows (a vector blob and an FTS5 row per item),
vector candidates from the in-process ``VectorIndex``, full-text candidates ranked by
FTS5's BM25, and no row locks (one writer serialises every write).

Two devices here are about cost only, never about which items rank where:

- ``_Counts`` caches the row counts a full-text search asks for (they change slowly);
- when the user owns most of the index, the MATCH is left unscoped and other users'
  rows are dropped afterwards: scoping by the ``owner`` token makes FTS5 walk a phrase
  that matches every row of the user, while the owner column weighs nothing in the
  rank (``bm25(documents_fts, 1.0, 0.0)``), so both give the same order.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence

import numpy as np
from cachetools import TTLCache

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Hit, ItemKind
from memfuse_server.storage.sqlite.vectors import VectorIndex
from memfuse_server.storage.tx import Item, Tx

_RANKED = (
    "SELECT d.kind, d.item_id, d.user_id, f.rank FROM (SELECT rowid, bm25(documents_fts, 1.0, 0.0)"
    " AS rank FROM documents_fts WHERE documents_fts MATCH ? ORDER BY rank LIMIT ?) f"
    " JOIN documents d ON d.seq = f.rowid ORDER BY f.rank"
)
_RANKED_KIND = (
    "SELECT d.kind, d.item_id, d.user_id, bm25(documents_fts, 1.0, 0.0) AS rank FROM documents_fts"
    " JOIN documents d ON d.seq = documents_fts.rowid WHERE documents_fts MATCH ? AND d.kind = ?"
    " ORDER BY rank LIMIT ?"
)
_EPOCH = "UPDATE users SET removal_epoch = removal_epoch + 1 WHERE id = ? RETURNING removal_epoch"


def owner_token(user_id: str) -> str:
    """The FTS token that scopes a full-text row to its user."""
    return "u" + user_id.replace("-", "")


def _match(phrases: Sequence[str], user_id: str | None = None) -> str:
    """An FTS5 MATCH for any of ``phrases``, scoped to one user when ``user_id`` is given."""
    words = " OR ".join('"' + p.replace('"', " ") + '"' for p in phrases)
    return f"owner : {owner_token(user_id)} AND ({words})" if user_id else words


class _Counts:
    """Row counts, cached: of the index, of each user, and of each term's matches."""

    def __init__(self) -> None:
        self._caches: dict[str, TTLCache[str, int]] = {
            "total": TTLCache(maxsize=1, ttl=60),
            "owned": TTLCache(maxsize=10_000, ttl=60),
            "term": TTLCache(maxsize=100_000, ttl=600),
        }
        self._lock = threading.Lock()

    async def count(self, tx: Tx, cache: str, key: str, sql: str, *args: str) -> int:
        with self._lock:
            value = self._caches[cache].get(key)
        if value is None:
            value = int(await tx.fetchval(sql, *args))
            with self._lock:
                self._caches[cache][key] = value
        return value

    async def total(self, tx: Tx) -> int:
        return await self.count(tx, "total", "n", "SELECT count(*) FROM documents")

    async def dominant(self, tx: Tx, user_id: str) -> bool:
        """Does this user own most of the index (the embedded, one-person case)?"""
        total = await self.total(tx)
        mine = await self.count(
            tx, "owned", user_id, "SELECT count(*) FROM documents WHERE user_id = ?", user_id
        )
        return total > 0 and mine * 2 >= total


class SqliteDialect:
    """SQLite's side of ``storage/tx.py``'s ``Dialect``."""

    lock_rows = ""
    skip_locked = ""
    share_rows = ""
    duplicate: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, index: VectorIndex) -> None:
        self.index = index
        self._counts = _Counts()

    async def lock_memory(self, tx: Tx, user_id: str) -> None:
        """Nothing to do: the single writer already serialises every write."""

    async def add_documents(
        self, tx: Tx, user_id: str, kind: ItemKind, items: Sequence[Item], vectors: Vectors
    ) -> None:
        owner = owner_token(user_id)
        for (item_id, text), vector in zip(items, vectors, strict=True):
            await tx.execute(
                "INSERT INTO documents (user_id, kind, item_id, vector) VALUES (?, ?, ?, ?)",
                user_id,
                kind.value,
                item_id,
                np.asarray(vector, dtype=np.float32).tobytes(),
            )
            # the FTS row shares the document's rowid (RETURNING it would make FTS5's insert
            # twice as slow)
            await tx.execute(
                "INSERT INTO documents_fts (rowid, body, owner) VALUES (last_insert_rowid(), ?, ?)",
                text,
                owner,
            )

    async def remove_documents(
        self, tx: Tx, user_id: str, kind: ItemKind, item_ids: Sequence[str]
    ) -> None:
        """Remove the rows and note them for the vector index; the user's removal epoch is
        bumped once per transaction, so other processes reload that user."""
        if not item_ids:
            return
        rows = await tx.fetch(
            "SELECT seq FROM documents WHERE kind = $1 AND item_id = ANY($2::text[])",
            kind.value,
            list(item_ids),
        )
        seqs = [int(r[0]) for r in rows]
        if not seqs:
            return
        await tx.execute("DELETE FROM documents_fts WHERE rowid = ANY($1::int[])", seqs)
        await tx.execute("DELETE FROM documents WHERE seq = ANY($1::int[])", seqs)
        if user_id not in tx.changes.epochs:
            tx.changes.epochs[user_id] = int(await tx.fetchval(_EPOCH, user_id))
        tx.changes.removed.setdefault(user_id, set()).update(seqs)

    async def forget_user(self, tx: Tx, user_id: str) -> None:
        """FTS5 rows have no foreign key: they go before the user's documents cascade."""
        await tx.execute(
            "DELETE FROM documents_fts WHERE rowid IN (SELECT seq FROM documents WHERE user_id = ?)",
            user_id,
        )
        tx.changes.users.add(user_id)

    async def item_vectors(
        self, tx: Tx, user_id: str, kind: ItemKind, item_ids: Sequence[str]
    ) -> dict[str, Vectors]:
        rows = await tx.fetch(
            "SELECT item_id, vector FROM documents WHERE kind = $1 AND item_id = ANY($2::text[])",
            kind.value,
            list(item_ids),
        )
        return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    async def vector_candidates(
        self, tx: Tx, user_id: str, vector: Vectors, per_kind: int
    ) -> dict[ItemKind, list[Hit]]:
        return await self.index.search(tx, user_id, vector, per_kind)

    async def match_scope(self, tx: Tx, user_id: str, at_most: int) -> int:
        """Every row: FTS5 reads a term's postings across all users."""
        return await self._counts.total(tx)

    async def term_matches(self, tx: Tx, terms: Sequence[str]) -> Mapping[str, float]:
        sql = "SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ?"
        return {t: await self._counts.count(tx, "term", t, sql, _match([t])) for t in terms}

    async def text_candidates(
        self, tx: Tx, user_id: str, phrases: Sequence[str], limit: int, kind: ItemKind | None = None
    ) -> list[Hit]:
        """BM25 over the user's rows, ranked inside FTS5 before the join (joining first makes
        SQLite rank every match through the join)."""
        if kind is not None:
            rows = await tx.fetch(_RANKED_KIND, _match(phrases, user_id), kind.value, limit)
        elif await self._counts.dominant(tx, user_id):
            rows = await tx.fetch(_RANKED, _match(phrases), 2 * limit)
            mine = [r for r in rows if r[2] == user_id]
            if len(mine) >= limit or len(rows) < 2 * limit:
                return [Hit(ItemKind(r[0]), r[1], -float(r[3])) for r in mine[:limit]]
            rows = await tx.fetch(_RANKED, _match(phrases, user_id), limit)
        else:
            rows = await tx.fetch(_RANKED, _match(phrases, user_id), limit)
        return [Hit(ItemKind(r[0]), r[1], -float(r[3])) for r in rows]


__all__ = ["SqliteDialect", "owner_token"]
