"""An in-process exact vector index over the ``documents`` table.

SQLite has no vector search in this Python build, and brute force in numpy
over float32 rows beats sqlite-vec by ~8x at 100k rows (ENVIRONMENT.md), so
each user's vectors are held as one matrix per item kind, loaded lazily and
kept current incrementally: rows newer than the last ``seq`` seen are appended
on the next search. Removals made by this process are applied directly; a
removal by another process bumps the user's ``removal_epoch`` in the
database, and the next search reloads that user. At most ``max_rows`` rows
stay in memory: the users searched least recently are dropped first (and
reloaded when searched again).

With ``database.vector_partition_rows`` set, a kind's matrix past that many rows
is partitioned (``partitions.py``) and a search scans the quarter of it nearest
the query: several times faster at 100k rows, at a recall@10 of 0.97-1.0
against exact search on hard synthetic data. It is off by default: exact search
is what a memory should give unless its owner trades it away.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Hit, ItemKind
from memfuse_server.storage.sqlite.partitions import Partitions
from memfuse_server.storage.tx import IndexChanges, Runner, Tx

REBUILD_TAIL = 0.25  # rebuild when rows added since the last build exceed this share
PROBE_SHARE = 0.25  # share of the lists scanned per search


@dataclass
class _KindMatrix:
    """The vectors of one kind of one user; rows may be dead (removed)."""

    dim: int
    partition_from: int = 0  # rows before partitioning; 0: never (exact search)
    rows: Vectors = field(init=False)
    seqs: npt.NDArray[np.int64] = field(init=False)
    ids: list[str] = field(default_factory=list)
    size: int = 0
    dead: int = 0
    partitions: Partitions | None = None

    def __post_init__(self) -> None:
        self.rows = np.zeros((16, self.dim), dtype=np.float32)
        self.seqs = np.zeros(16, dtype=np.int64)

    def extend(self, seqs: npt.NDArray[np.int64], ids: list[str], vectors: Vectors) -> None:
        """Append rows, growing the buffers geometrically."""
        end = self.size + len(ids)
        if end > len(self.seqs):
            capacity = max(end, 2 * len(self.seqs))
            rows = np.zeros((capacity, self.dim), dtype=np.float32)
            rows[: self.size] = self.rows[: self.size]
            grown = np.zeros(capacity, dtype=np.int64)
            grown[: self.size] = self.seqs[: self.size]
            self.rows, self.seqs = rows, grown
        self.rows[self.size : end] = vectors
        self.seqs[self.size : end] = seqs
        self.ids.extend(ids)
        self.size = end

    def remove(self, seqs: set[int]) -> None:
        hit = np.isin(self.seqs[: self.size], np.fromiter(seqs, dtype=np.int64))
        self.seqs[: self.size][hit] = -1
        self.rows[: self.size][hit] = 0.0
        self.dead += int(hit.sum())

    def top(self, query: Vectors, k: int) -> list[tuple[str, float]]:
        k = min(k, self.size - self.dead)
        if k <= 0:
            return []
        self._maybe_partition()
        index, scores = self._scan(query)
        cut = len(scores) - min(k, len(scores))
        best = np.argpartition(scores, cut)[cut:]  # the k highest, unordered
        best = best[np.argsort(-scores[best])]
        rows = best if index is None else index[best]
        return [
            (self.ids[row], float(score))
            for row, score in zip(rows.tolist(), scores[best].tolist(), strict=True)
            if score > -np.inf
        ]

    def _scan(self, query: Vectors) -> tuple[npt.NDArray[np.int64] | None, npt.NDArray[np.float32]]:
        """Exact scores of the rows worth scoring, and their row numbers (None: all rows).

        The exact path scores the matrix in place: no index array, no copy, and dead rows
        masked only when there are any (at 100k rows these cost a third of the scan)."""
        if self.partitions is None:
            scores: npt.NDArray[np.float32] = self.rows[: self.size] @ query
            if self.dead:
                scores[self.seqs[: self.size] < 0] = -np.inf
            return None, scores
        probes = max(8, int(len(self.partitions.centroids) * PROBE_SHARE))
        ranges = [
            *self.partitions.candidates(query, probes),
            (self.partitions.built, self.size),
        ]
        index = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in ranges])
        scores = np.concatenate([self.rows[a:b] @ query for a, b in ranges])
        scores[self.seqs[index] < 0] = -np.inf
        return index, scores

    def _maybe_partition(self) -> None:
        live = self.size - self.dead
        built = self.partitions.built if self.partitions else 0
        if (
            not self.partition_from
            or live < self.partition_from
            or (built and self.size - built <= REBUILD_TAIL * built)
        ):
            return
        keep = np.flatnonzero(self.seqs[: self.size] >= 0)  # drop dead rows while reordering
        partitions, order = Partitions.build(self.rows[keep])
        rows = keep[order]
        self.rows[: len(rows)] = self.rows[rows]
        self.seqs[: len(rows)] = self.seqs[rows]
        self.ids = [self.ids[i] for i in rows]
        self.size, self.dead, self.partitions = len(rows), 0, partitions


@dataclass
class _UserIndex:
    epoch: int
    last_seq: int = 0
    kinds: dict[ItemKind, _KindMatrix] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rows(self) -> int:
        return sum(m.size for m in self.kinds.values())


_STATE = "SELECT removal_epoch FROM users WHERE id = $1"
_NEW_ROWS = (
    "SELECT seq, kind, item_id, vector FROM documents WHERE user_id = $1 AND seq > $2 ORDER BY seq"
)
_RECENT_USERS = "SELECT user_id, COUNT(*) FROM documents GROUP BY user_id ORDER BY MAX(seq) DESC"


async def _users_by_recent_writes(tx: Tx) -> list[tuple[str, int]]:
    """Each user's searchable rows, the most recently written user first."""
    return [(str(r[0]), int(r[1])) for r in await tx.fetch(_RECENT_USERS)]


class VectorIndex:
    """Exact cosine search over each user's documents (vectors are unit length).

    Its reads are SQLite reads (``SqliteTx`` never suspends), so the locks it holds
    across them are never held across a wait on the event loop."""

    def __init__(
        self, dim: int, max_rows: int = 1_000_000, partition_from: int = 0, warmup_rows: int = 0
    ) -> None:
        self.dim = dim
        self.max_rows = max_rows
        self.partition_from = partition_from
        self.warmup_rows = min(warmup_rows, max_rows)
        self._users: OrderedDict[str, _UserIndex] = OrderedDict()
        self._lock = threading.Lock()

    async def search(
        self, tx: Tx, user_id: str, query: Vectors, per_kind: int
    ) -> dict[ItemKind, list[Hit]]:
        """Bring the user's index up to date from ``tx``, then search it."""
        index = await self.load(tx, user_id)
        if index is None:
            return {}
        with index.lock:
            return {
                kind: [Hit(kind, item_id, score) for item_id, score in matrix.top(query, per_kind)]
                for kind, matrix in index.kinds.items()
            }

    async def load(self, tx: Tx, user_id: str) -> _UserIndex | None:
        """The user's vectors in memory, brought up to date from ``tx`` (None: no such user).
        Searches call it first; ``warm_up`` calls it at startup."""
        epoch = await tx.fetchval(_STATE, user_id)
        if epoch is None:
            return None
        return await self._current(tx, user_id, int(epoch))

    async def warm_up(self, runner: Runner) -> None:
        """Load the vectors of the users written to most recently, up to ``warmup_rows``, so
        their first search after a start does not read them (1.3 s for 100k messages)."""
        budget = self.warmup_rows
        if budget <= 0:
            return
        chosen = []
        for user_id, rows in await runner.read(_users_by_recent_writes):
            if rows <= budget:
                chosen.append(user_id)
                budget -= rows
        for user_id in reversed(chosen):  # the most recent last: the cache keeps it longest
            await runner.read(self.load, user_id)

    def committed(self, changes: IndexChanges) -> None:
        """Follow what a write of this process removed, once it has committed."""
        for user_id in changes.users:
            self.forget_user(user_id)
        for user_id, seqs in changes.removed.items():
            if user_id in changes.epochs:
                self.forget_removed(user_id, seqs, changes.epochs[user_id])

    def rows_in_memory(self, user_id: str) -> int:
        """How many of the user's vectors are loaded (0 when none are)."""
        with self._lock:
            index = self._users.get(user_id)
        return 0 if index is None else index.rows

    def forget_removed(self, user_id: str, seqs: set[int], new_epoch: int) -> None:
        """Apply this process's own removals (called after they commit)."""
        with self._lock:
            index = self._users.get(user_id)
        if index is None:
            return
        with index.lock:
            if index.epoch == new_epoch - 1:
                for matrix in index.kinds.values():
                    matrix.remove(seqs)
                index.epoch = new_epoch

    def forget_user(self, user_id: str) -> None:
        with self._lock:
            self._users.pop(user_id, None)

    async def _current(self, tx: Tx, user_id: str, epoch: int) -> _UserIndex:
        with self._lock:
            index = self._users.get(user_id)
            if index is None or index.epoch != epoch:
                index = _UserIndex(epoch=epoch)
                self._users[user_id] = index
        with index.lock:
            await self._load_new(tx, user_id, index)
        self._evict(keep=user_id)
        return index

    def _evict(self, keep: str) -> None:
        """Drop the least recently searched users while over ``max_rows``."""
        with self._lock:
            self._users.move_to_end(keep)
            total = sum(index.rows for index in self._users.values())
            while total > self.max_rows and len(self._users) > 1:
                _, dropped = self._users.popitem(last=False)
                total -= dropped.rows

    async def _load_new(self, tx: Tx, user_id: str, index: _UserIndex) -> None:
        """Append the user's rows newer than the last seen, one bulk copy per kind."""
        rows = await tx.fetch(_NEW_ROWS, user_id, index.last_seq)
        if not rows:
            return
        by_kind: dict[str, list[tuple[int, str, bytes]]] = {}
        for seq, kind, item_id, blob in rows:
            by_kind.setdefault(kind, []).append((seq, item_id, blob))
        for kind, items in by_kind.items():
            matrix = index.kinds.get(ItemKind(kind))
            if matrix is None:
                matrix = index.kinds[ItemKind(kind)] = _KindMatrix(self.dim, self.partition_from)
            vectors = np.frombuffer(b"".join(b for _, _, b in items), dtype=np.float32)
            matrix.extend(
                np.fromiter((s for s, _, _ in items), dtype=np.int64, count=len(items)),
                [i for _, i, _ in items],
                vectors.reshape(len(items), self.dim),
            )
        index.last_seq = int(rows[-1][0])


__all__ = ["VectorIndex"]
