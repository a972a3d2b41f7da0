"""Validity in ranking: what held at a moment, and a superseded item below its successor.

Facts and relations carry ``valid_from``/``valid_until``/``superseded_by`` (see
``validity.py``); other items hold from their own time (a message from when it was
said, an entity from its first mention). At a ``moment`` (the query's ``as_of``, or
now):

- ``holds``: whether an item is part of memory as it stood then;
- ``mark``: the item with ``current`` (it holds) and ``superseded`` (a later statement
  had ended it by then);
- ``successors_first``: a superseded item goes right below the item that replaced it;
  a successor the candidates missed is fetched and put in its place, so a question
  that finds the old fact also finds what replaced it.

Pure functions over resolved items; the engines only find candidates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from memfuse_server.models import ItemKind, MemoryItem, QueryResult, utcnow
from memfuse_server.validity import holds_at

Key = tuple[ItemKind, str]
TIMED = frozenset({ItemKind.FACT, ItemKind.RELATION})
MAX_CHAIN = 4  # successors of successors fetched at most this deep


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def holds(item: MemoryItem, moment: datetime) -> bool:
    """Whether ``item`` was part of memory at ``moment``."""
    start = _time(item.extra.get("valid_from")) or item.created_at
    if item.kind not in TIMED:
        return start <= moment
    return holds_at(start, _time(item.extra.get("valid_until")), moment)


def superseded(item: MemoryItem, moment: datetime) -> bool:
    """Whether a later statement had ended ``item`` by ``moment``."""
    until = _time(item.extra.get("valid_until"))
    return (
        item.kind in TIMED
        and until is not None
        and until <= moment
        and bool(item.extra.get("superseded_by"))
    )


def mark(item: MemoryItem, moment: datetime) -> MemoryItem:
    """A fact or relation with ``current`` and ``superseded`` as of ``moment``."""
    if item.kind not in TIMED:
        return item
    flags = {"current": holds(item, moment), "superseded": superseded(item, moment)}
    return replace(item, extra={**item.extra, **flags})


def successor(item: MemoryItem, moment: datetime) -> Key | None:
    """The key of what replaced ``item`` by ``moment``, if anything had."""
    if not superseded(item, moment):
        return None
    return (item.kind, str(item.extra["superseded_by"]))


Fetch = Callable[[Sequence[Key]], Awaitable[Mapping[Key, MemoryItem]]]


async def _missing_successors(
    results: Sequence[QueryResult], moment: datetime, fetch: Fetch
) -> dict[Key, MemoryItem]:
    """The successors (and theirs, up to ``MAX_CHAIN`` deep) not among ``results``."""
    known = {(r.item.kind, r.item.id): r.item for r in results}
    found: dict[Key, MemoryItem] = {}
    frontier = list(known.values())
    for _ in range(MAX_CHAIN):
        wanted = sorted(
            {k for i in frontier if (k := successor(i, moment)) and k not in known | found}
        )
        if not wanted:
            break
        fetched = await fetch(wanted)
        found.update(fetched)
        frontier = list(fetched.values())
    return found


async def successors_first(
    results: Sequence[QueryResult], moment: datetime, fetch: Fetch
) -> list[QueryResult]:
    """``results`` with each superseded item right below its successor (fetched when the
    candidates missed it); a successor moved up takes the score of the place it takes."""
    extra = await _missing_successors(results, moment, fetch)
    by_key = {(r.item.kind, r.item.id): r for r in results}
    for key, item in extra.items():
        by_key[key] = QueryResult(item, 0.0, "cross_session", {})
    out: list[QueryResult] = []
    placed: set[Key] = set()

    def emit(key: Key, score: float, depth: int = 0) -> None:
        if key in placed:
            return
        found = by_key[key]
        after = successor(found.item, moment)
        if after in by_key and depth < MAX_CHAIN:
            emit(after, score, depth + 1)
        if key in placed:  # only in a cycle, which a timeline never makes
            return
        placed.add(key)
        item = mark(found.item, moment)
        out.append(replace(found, item=item, score=max(found.score, score)))

    for r in results:
        emit((r.item.kind, r.item.id), r.score)
    return out


async def in_time(
    results: Sequence[QueryResult], as_of: datetime | None, fetch: Fetch
) -> list[QueryResult]:
    """The results as memory stood at ``as_of`` (None: now): what did not hold then left
    out, each superseded item below its successor, facts and relations marked."""
    kept = [r for r in results if as_of is None or holds(r.item, as_of)]
    return await successors_first(kept, as_of or utcnow(), fetch)


__all__ = ["holds", "in_time", "mark", "successor", "successors_first", "superseded"]
