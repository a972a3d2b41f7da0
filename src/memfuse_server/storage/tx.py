"""The seam between the storage operations and the two engines.

Every operation (``storage/ops/``) is written once, as ``async def op(tx: Tx, ...)``,
against the small transaction protocol ``Tx``: SQL in PostgreSQL's spelling (``$n``
parameters, ``= ANY($n::text[])`` for a list), Python values in and out. What truly
differs between SQLite and PostgreSQL sits behind ``tx.dialect`` (search rows, vector
and full-text candidates, row locks); how a transaction runs (SQLite's writer and
reader threads, the asyncpg pool) is a ``Runner``. Each engine folder holds one of each.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Hit, ItemKind
from memfuse_server.storage.base import PoolStats

T = TypeVar("T")
P = ParamSpec("P")


Item = tuple[str, str]  # a searchable item: its id and the text its full-text row indexes


class Row(Protocol):
    """A result row: by column name or position (``sqlite3.Row``, ``asyncpg.Record``)."""

    def __getitem__(self, key: Any, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...


@dataclass
class IndexChanges:
    """What a write removed from the search rows, for an in-process index to follow once
    it commits (SQLite's vector index; PostgreSQL's indexes are transactional)."""

    removed: dict[str, set[int]] = field(default_factory=dict)  # user -> row seqs
    epochs: dict[str, int] = field(default_factory=dict)  # user -> removal epoch after
    users: set[str] = field(default_factory=set)  # users deleted outright

    def __bool__(self) -> bool:
        return bool(self.removed or self.users)


class Tx(Protocol):
    """One transaction. Parameters and results are Python values (datetimes, JSON
    values, lists for ``= ANY``); each engine encodes and decodes what it must."""

    dialect: Dialect
    changes: IndexChanges

    async def fetch(self, sql: str, *args: object) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: object) -> Row | None: ...
    async def fetchval(self, sql: str, *args: object) -> Any: ...
    async def execute(self, sql: str, *args: object) -> int:
        """Run a statement; return how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...


class Dialect(Protocol):
    """What differs between the engines, and only that."""

    lock_rows: str  # after a SELECT whose rows the transaction must hold: " FOR UPDATE" or ""
    skip_locked: str  # after a SELECT of rows to claim: " FOR UPDATE SKIP LOCKED" or ""
    share_rows: str  # after a SELECT of rows that must not change until the end: " FOR SHARE" or ""
    duplicate: tuple[type[BaseException], ...]  # what a unique-key violation raises

    async def lock_memory(self, tx: Tx, user_id: str) -> None:
        """Serialise writes and removals of this user's derived memory (facts, entities,
        aliases, relations, their provenance) until the transaction ends."""
        ...

    async def add_documents(
        self, tx: Tx, user_id: str, kind: ItemKind, items: Sequence[Item], vectors: Vectors
    ) -> None:
        """Index ``(item_id, text)`` pairs with their vectors (rows of ``vectors``)."""
        ...

    async def remove_documents(
        self, tx: Tx, user_id: str, kind: ItemKind, item_ids: Sequence[str]
    ) -> None: ...
    async def forget_user(self, tx: Tx, user_id: str) -> None:
        """Before a user's rows cascade away: what the cascade does not reach."""
        ...

    async def item_vectors(
        self, tx: Tx, user_id: str, kind: ItemKind, item_ids: Sequence[str]
    ) -> dict[str, Vectors]:
        """The stored vectors of these items (those that have one), by item id."""
        ...

    async def vector_candidates(
        self, tx: Tx, user_id: str, vector: Vectors, per_kind: int
    ) -> dict[ItemKind, list[Hit]]:
        """The user's nearest items of each kind (cosine), best first."""
        ...

    async def match_scope(self, tx: Tx, user_id: str, at_most: int) -> int:
        """How many rows a full-text match for this user may have to consider, counted up to
        ``at_most`` (the engine's indexes decide: all rows, or the user's own)."""
        ...

    async def term_matches(self, tx: Tx, terms: Sequence[str]) -> Mapping[str, float]:
        """Each term's expected matching rows, estimated (a term left out is rare)."""
        ...

    async def text_candidates(
        self, tx: Tx, user_id: str, phrases: Sequence[str], limit: int, kind: ItemKind | None = None
    ) -> list[Hit]:
        """The user's items matching any of ``phrases`` (words or quoted phrases), ranked by
        the engine's full-text rank, best first; only items of ``kind`` when it is given."""
        ...


Op = Callable[Concatenate[Tx, P], Coroutine[Any, Any, T]]


class Runner(Protocol):
    """Runs operations, each as one transaction, on one engine."""

    dialect: Dialect

    async def open(self) -> int:
        """Bring the schema up to date and get ready; return the schema version."""
        ...

    async def close(self) -> None: ...
    async def hold_name(self, name: str) -> str:
        """Hold the first of ``name/0``, ``name/1``, ... that no live process holds, until
        ``close`` or the process ends however it ends (a lock the operating system or the
        database lets go): a worker's identity, the same after a restart."""
        ...

    async def read(self, op: Op[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """Run ``op(tx, ...)`` in a read-only snapshot."""
        ...

    async def write(self, op: Op[P, T], *args: P.args, **kw: P.kwargs) -> tuple[T, IndexChanges]:
        """Run ``op(tx, ...)`` as one write transaction; return its result once committed,
        with what it removed from the search rows."""
        ...

    async def write_background(
        self, op: Op[P, T], *args: P.args, **kw: P.kwargs
    ) -> tuple[T, IndexChanges]:
        """``write`` for the background: where writes queue (SQLite's one writer), after
        the requests' writes that wait."""
        ...

    def pool_stats(self) -> PoolStats: ...


class SearchIndex(Protocol):
    """An in-process search index beside the database, kept in step after each commit."""

    def committed(self, changes: IndexChanges) -> None: ...
    async def warm_up(self, runner: Runner) -> None:
        """Load, after a start, what makes the first searches fast."""
        ...


__all__ = [
    "Dialect",
    "IndexChanges",
    "Item",
    "Op",
    "Row",
    "Runner",
    "SearchIndex",
    "Tx",
]
