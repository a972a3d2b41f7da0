"""Keeping ``valid_until`` and ``superseded_by`` true: timelines recomputed as statements come
and go.

A fact's timeline is the user's facts of one (subject, attribute); a relation's, the
relations of one (subject entity, attribute). Whenever a statement joins a timeline
(saved) or leaves it (its last source message edited or deleted), the whole timeline
is recomputed by ``validity.timeline`` and the rows that changed are updated. So an
older statement imported later lands in its place, and what a removed statement
closed is open again. Nothing is ever deleted here: a closed row keeps its text and
provenance.

Every save or removal of derived memory holds the user's memory lock (``ops/locks.py``),
so two jobs never recompute one timeline from different snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from memfuse_server.storage.ops.rows import dt
from memfuse_server.storage.tx import Row, Tx
from memfuse_server.validity import Closed, Statement, is_single_valued, timeline, value_key

Key = tuple[str, str]  # (subject key or subject entity id, attribute)


@dataclass(frozen=True)
class _Table:
    name: str
    subject: str  # the column of the subject key
    value: str  # the column of the value


FACTS = _Table("facts", "subject_key", "value")
RELATIONS = _Table("relations", "subject_id", "object_id")


async def source_times(tx: Tx, message_ids: Iterable[str]) -> dict[str, datetime]:
    """When each of these messages (those still stored) was said."""
    wanted = sorted(set(message_ids))
    if not wanted:
        return {}
    rows = await tx.fetch("SELECT id, created_at FROM messages WHERE id = ANY($1::text[])", wanted)
    return {r[0]: dt(r[1]) for r in rows}


def _statement(row: Row, table: _Table) -> Statement:
    value = row[table.value]
    return Statement(
        row["id"],
        dt(row["valid_from"]),
        dt(row["recorded_at"]),
        value_key(value) if table is FACTS else value,
        bool(row["ends"]),
    )


def _changed(row: Row, closed: Closed | None) -> bool:
    until = row["valid_until"]
    if closed is None:
        return until is not None or row["superseded_by"] is not None
    return (
        until is None
        or dt(until) != closed.valid_until
        or row["superseded_by"] != (closed.superseded_by)
    )


async def _settle_one(tx: Tx, table: _Table, user_id: str, key: Key) -> int:
    subject, attribute = key
    rows = await tx.fetch(
        f"SELECT id, valid_from, recorded_at, {table.value}, ends, valid_until, superseded_by"
        f" FROM {table.name} WHERE user_id = $1 AND attribute = $2 AND {table.subject} = $3",
        user_id,
        attribute,
        subject,
    )
    result = timeline([_statement(r, table) for r in rows], is_single_valued(attribute))
    updates = [
        (closed.valid_until if closed else None, closed.superseded_by if closed else None, r["id"])
        for r in rows
        if _changed(r, closed := result[r["id"]])
    ]
    await tx.executemany(
        f"UPDATE {table.name} SET valid_until = $1, superseded_by = $2 WHERE id = $3", updates
    )
    return len(updates)


async def settle(tx: Tx, table: _Table, user_id: str, keys: Iterable[Key]) -> int:
    """Recompute these timelines; how many rows changed."""
    changed = 0
    for key in sorted(set(keys)):
        changed += await _settle_one(tx, table, user_id, key)
    return changed


async def keys_of(tx: Tx, table: _Table, ids: Sequence[str]) -> list[Key]:
    """The timelines these rows are on (rows with no attribute are on none)."""
    if not ids:
        return []
    rows = await tx.fetch(
        f"SELECT {table.subject}, attribute FROM {table.name}"
        " WHERE id = ANY($1::text[]) AND attribute IS NOT NULL",
        list(ids),
    )
    return [(r[0], r[1]) for r in rows if r[0] is not None]


__all__ = ["FACTS", "RELATIONS", "Key", "keys_of", "settle", "source_times"]
